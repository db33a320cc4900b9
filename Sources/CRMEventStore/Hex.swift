/// Lower-case hexadecimal of bytes (hashes, keys and signatures in replies and exports).
public func hexString(_ bytes: [UInt8]) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    appendHex(bytes, to: &out)
    return String(decoding: out, as: UTF8.self)
}

/// Appends the lower-case hexadecimal of `bytes` to `out`.
public func appendHex(_ bytes: [UInt8], to out: inout [UInt8]) {
    for byte in bytes {
        out.append(hexDigits[Int(byte >> 4)])
        out.append(hexDigits[Int(byte & 0x0F)])
    }
}

private let hexDigits = Array("0123456789abcdef".utf8)

/// The bytes written as lowercase hex in `text`, or `nil` when it is not an even run of hex digits.
public func bytes(hex text: String) -> [UInt8]? {
    func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(digits.count / 2)
    var index = 0
    while index < digits.count {
        guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
        out.append(high << 4 | low)
        index += 2
    }
    return out
}
