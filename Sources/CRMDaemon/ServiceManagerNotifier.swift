import Foundation
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells the service manager how crmd is doing, as sd_notify(3) does: systemd starts a `Type=notify`
/// unit with `NOTIFY_SOCKET` naming a Unix datagram socket, and crmd sends it `READY=1` once its control
/// socket listens and `STOPPING=1` when it begins to stop. Without `NOTIFY_SOCKET` it does nothing.
struct ServiceManagerNotifier: Sendable {
    /// The socket's address (a leading `@` stands for Linux's abstract namespace), or `nil` when crmd
    /// was not started by a service manager that listens.
    let socketPath: String?

    /// The notifier for `NOTIFY_SOCKET` in `environment`.
    init(environment: [String: String]) {
        self.socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Sends `assignments` (`READY=1`, `STATUS=…`), one per line, in one datagram. Failures are ignored,
    /// as with sd_notify: the service manager's socket is a courtesy, not something crmd depends on.
    func send(_ assignments: [String]) {
        guard let socketPath = self.socketPath else { return }
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        var address = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !path.isEmpty, path.count < capacity else { return }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path)
        }
        #if canImport(Glibc)
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let descriptor = socket(AF_UNIX, SOCK_DGRAM, 0)
        #endif
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let message = Array(assignments.joined(separator: "\n").utf8)
        // The address ends with the path: an abstract one has no terminating NUL, a file path one.
        let length = MemoryLayout.offset(of: \sockaddr_un.sun_path)! + path.count + (path[0] == 0 ? 0 : 1)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                message.withUnsafeBytes { bytes in
                    sendto(descriptor, bytes.baseAddress, bytes.count, 0, socketAddress, socklen_t(length))
                }
            }
        }
    }
}

/// A service that sends `STOPPING=1` as soon as the daemon's graceful shutdown begins. It is last in
/// the service group, so the group asks it to stop first.
struct StoppingNotification: Service {
    /// Where the notification goes.
    let notifier: ServiceManagerNotifier

    func run() async throws {
        try? await gracefulShutdown()
        self.notifier.send(["STOPPING=1", "STATUS=stopping"])
    }
}
