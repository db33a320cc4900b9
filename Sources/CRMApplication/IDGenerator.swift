import Synchronization

/// Generates time-ordered UUIDv7 identifiers (RFC 9562): 48 bits of Unix milliseconds, then random
/// bits, with a counter keeping ids strictly increasing within one millisecond. Creation-ordered ids
/// keep LMDB index appends fast.
public final class UUIDv7Generator: Sendable {
    private let state = Mutex<(millis: UInt64, counter: UInt16)>((0, 0))

    public init() {}

    /// A new id such as `01936f0e-3b2a-7c41-9d3e-5a1b2c3d4e5f`.
    public func next(now millis: Int64) -> String {
        let (ms, counter) = self.state.withLock { state -> (UInt64, UInt16) in
            let now = UInt64(max(millis, 0))
            if now > state.millis {
                state = (now, UInt16.random(in: 0..<0x400))
            } else {
                state.counter &+= 1
                if state.counter >= 0x1000 {
                    state = (state.millis + 1, 0)
                }
            }
            return (state.millis, state.counter)
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: ms >> (40 - 8 * UInt64(index))) }
        bytes[6] = 0x70 | UInt8(counter >> 8 & 0x0F)
        bytes[7] = UInt8(truncatingIfNeeded: counter)
        // One draw of 64 random bits (each draw is a system call).
        var random = SystemRandomNumberGenerator()
        let bits: UInt64 = random.next()
        for index in 8..<16 { bytes[index] = UInt8(truncatingIfNeeded: bits >> (8 * UInt64(index - 8))) }
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        let hex = hexDigits
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

private let hexDigits = Array("0123456789abcdef".utf8)
