import Foundation

/// A fresh directory under `/tmp` (short paths, since Unix socket paths are limited to 107 bytes),
/// removed with everything in it when the value is released.
public final class TemporaryDirectory: Sendable {
    /// Absolute path of the directory.
    public let path: String

    public init(prefix: String = "crmd") {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed: \(String(cString: strerror(errno)))")
        self.path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    /// A path inside the directory.
    public func appending(_ name: String) -> String { self.path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: self.path) }
}
