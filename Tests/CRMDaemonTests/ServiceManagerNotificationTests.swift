import CRMTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real crmd telling a service manager (systemd's `Type=notify`) through `NOTIFY_SOCKET` that it is
/// ready and that it stops, as sd_notify(3) does.
@Suite struct ServiceManagerNotificationTests {
    /// A Unix datagram socket standing in for systemd's notification socket.
    final class NotificationSocket {
        let descriptor: Int32
        /// The value for `NOTIFY_SOCKET`.
        let address: String

        /// Binds `path`; a leading `@` binds in Linux's abstract namespace, as systemd may.
        init(path: String) throws {
            self.address = path
            self.descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            var bytes = Array(path.utf8)
            if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
            let length = MemoryLayout.offset(of: \sockaddr_un.sun_path)! + bytes.count + (bytes[0] == 0 ? 0 : 1)
            let bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                    bind(self.descriptor, address, socklen_t(length))
                }
            }
            try #require(self.descriptor >= 0 && bound == 0, "cannot bind \(path): \(String(cString: strerror(errno)))")
            var timeout = timeval(tv_sec: 20, tv_usec: 0)
            setsockopt(self.descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        /// The next datagram's assignments (one per line); empty after 20 s without one.
        func receive() -> [String] {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(self.descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { return [] }
            return String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n").map(String.init)
        }

        deinit { close(self.descriptor) }
    }

    @Test(arguments: ["file", "abstract"])
    func crmdSaysReadyOnceItsSocketListensAndStoppingWhenItStops(_ kind: String) throws {
        let directory = TemporaryDirectory()
        let path =
            kind == "file"
            ? directory.appending("notify") : "@crmd-test-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let notifications = try NotificationSocket(path: path)
        let daemon = try DaemonProcess(
            socketPath: directory.appending("crmd.sock"),
            dataDirectory: directory.appending("data"),
            environment: ["NOTIFY_SOCKET": notifications.address]
        )
        let ready = notifications.receive()
        #expect(ready.contains("READY=1"), "\(ready)")
        #expect(ready.contains("STATUS=serving on \(daemon.socketPath)"), "\(ready)")
        // READY=1 comes only once clients can connect.
        let client = try RPCClient(socketPath: daemon.socketPath)
        withExtendedLifetime(client) {}
        #expect(daemon.stop() == 0)
        let stopping = notifications.receive()
        #expect(stopping.contains("STOPPING=1"), "\(stopping)")
    }
}
