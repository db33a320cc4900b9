import CNATS

/// A failure of the NATS C client or of a JetStream request: the client's status, the JetStream error
/// code the server answered with (0 when none), and a message.
public struct NATSError: Error, CustomStringConvertible, Sendable {
    /// The client's `natsStatus` (0 is `NATS_OK`).
    public var status: Int32
    /// The JetStream API error code (`jsErrCode`, e.g. 10071 wrong last sequence), or 0.
    public var code: Int
    /// What failed, with the client's text for the status.
    public var message: String

    public init(status: Int32, code: Int = 0, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// The error of `status` returned by the C call named `call`, with the library's last error text.
    init(_ status: natsStatus, code: jsErrCode = jsErrCode(0), call: String) {
        var text = String(cString: natsStatus_GetText(status))
        var last = natsStatus(0)
        if let detail = nats_GetLastError(&last), detail.pointee != 0 {
            let detailText = String(cString: detail)
            if detailText != text { text += ": " + detailText }
        }
        self.init(status: Int32(status.rawValue), code: Int(code.rawValue), message: "\(call): \(text)")
    }

    public var description: String {
        self.code == 0 ? self.message : "\(self.message) (JetStream error \(self.code))"
    }

    /// JetStream's "wrong last sequence": a publish whose expected last sequence is not the stream's.
    public static let wrongLastSequence = 10071
    /// JetStream's "stream not found".
    public static let streamNotFound = 10059
    /// JetStream's "no message found".
    public static let noMessageFound = 10037

    /// Whether the client timed out (`NATS_TIMEOUT`).
    public var isTimeout: Bool { self.status == Int32(NATS_TIMEOUT.rawValue) }

    /// Whether the answer was "not found" (a stream or a message).
    public var isNotFound: Bool {
        self.code == NATSError.streamNotFound || self.code == NATSError.noMessageFound
            || self.status == Int32(NATS_NOT_FOUND.rawValue)
    }
}

/// Throws the error of `status` unless it is `NATS_OK`.
@inline(__always)
func check(_ status: natsStatus, code: jsErrCode = jsErrCode(0), _ call: @autoclosure () -> String) throws(NATSError) {
    guard status != NATS_OK else { return }
    throw NATSError(status, code: code, call: call())
}
