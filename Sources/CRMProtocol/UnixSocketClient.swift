#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A small blocking client for a Unix stream socket speaking newline-delimited lines, as crmd's
/// control socket does. Used by `crmctl` and by tests; it has no dependency on NIO.
///
/// Every read and write is bounded by the timeout given at ``init(path:timeout:)`` (`SO_RCVTIMEO`,
/// `SO_SNDTIMEO`), so a silent daemon produces ``UnixSocketClientError`` instead of a hang. Writes
/// never raise `SIGPIPE` (`MSG_NOSIGNAL`).
///
/// Not thread-safe: use one client from one thread at a time (it is deliberately not `Sendable`).
public final class UnixSocketClient {
    /// The socket path given at creation, for messages.
    public let path: String

    private var descriptor: Int32
    /// Received bytes; those before `lineStart` have been returned by ``readLine()`` already.
    private var buffer: [UInt8] = []
    /// Where the next line starts in `buffer`.
    private var lineStart = 0
    /// Where to resume looking for `\n`: the bytes from `lineStart` up to here contain none.
    private var scanFrom = 0
    /// Scratch space for `recv(2)`.
    private var chunk = [UInt8](repeating: 0, count: 64 * 1024)

    /// Connects to the Unix socket at `path`.
    ///
    /// - Parameters:
    ///   - path: The socket file. Linux limits it to 107 bytes.
    ///   - timeout: The longest a single send or receive may block. Must be positive.
    /// - Throws: ``UnixSocketClientError`` when the path is too long or the connection fails
    ///   (for example `ENOENT` or `ECONNREFUSED` when no daemon is listening).
    public init(path: String, timeout: Duration = .seconds(30)) throws {
        self.path = path
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let pathBytes = Array(path.utf8)
        guard !pathBytes.isEmpty, pathBytes.count < capacity, !pathBytes.contains(0) else {
            throw UnixSocketClientError(.invalidPath(limit: capacity - 1), path: path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }

        #if canImport(Darwin)
        let descriptor = socket(AF_UNIX, SOCK_STREAM, 0)
        #else
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #endif
        guard descriptor >= 0 else {
            throw UnixSocketClientError(.socket(errno: errno), path: path)
        }
        self.descriptor = descriptor

        do {
            try Self.setTimeout(timeout, option: SO_RCVTIMEO, on: descriptor, path: path)
            try Self.setTimeout(timeout, option: SO_SNDTIMEO, on: descriptor, path: path)
            let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + 1)
            while true {
                let result = withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, length) }
                }
                if result == 0 {
                    break
                }
                let code = errno
                if code == EINTR {
                    continue
                }
                throw UnixSocketClientError(.connect(errno: code), path: path)
            }
        } catch {
            systemClose(descriptor)
            self.descriptor = -1
            throw error
        }
    }

    deinit {
        self.close()
    }

    /// Sends all of `bytes`.
    ///
    /// - Throws: ``UnixSocketClientError`` on a send error, a timeout or use after ``close()``.
    public func send(_ bytes: [UInt8]) throws {
        guard self.descriptor >= 0 else {
            throw UnixSocketClientError(.closed, path: self.path)
        }
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { raw in
                systemSend(self.descriptor, raw.baseAddress! + offset, raw.count - offset)
            }
            if sent >= 0 {
                offset += sent
                continue
            }
            let code = errno
            switch code {
            case EINTR:
                continue
            case EAGAIN, EWOULDBLOCK:
                throw UnixSocketClientError(.timedOut, path: self.path)
            default:
                throw UnixSocketClientError(.send(errno: code), path: self.path)
            }
        }
    }

    /// Sends `line` followed by `\n`. The line itself must not contain `\n`.
    public func sendLine(_ line: [UInt8]) throws {
        var bytes = line
        bytes.append(UInt8(ascii: "\n"))
        try self.send(bytes)
    }

    /// Receives the next line, without its `\n` (and without a `\r` before it).
    ///
    /// - Returns: The line, or `nil` when the server closed the connection (end of input, or
    ///   `ECONNRESET`, which Linux reports instead when the server closed with unread input).
    /// - Throws: ``UnixSocketClientError`` on a receive error, a timeout, a connection that ends
    ///   in the middle of a line, or use after ``close()``.
    public func readLine() throws -> [UInt8]? {
        while true {
            if let newline = self.buffer[self.scanFrom...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > self.lineStart && self.buffer[end - 1] == UInt8(ascii: "\r") {
                    end -= 1
                }
                let line = Array(self.buffer[self.lineStart..<end])
                self.lineStart = newline + 1
                self.scanFrom = self.lineStart
                return line
            }
            self.scanFrom = self.buffer.count
            guard try self.receive() else {
                guard self.lineStart == self.buffer.count else {
                    throw UnixSocketClientError(.truncatedLine, path: self.path)
                }
                return nil
            }
        }
    }

    /// Shuts down the sending side (`shutdown(SHUT_WR)`): the server sees end of input after the
    /// requests already sent, answers them and closes; keep calling ``readLine()`` until `nil`.
    public func shutdownWrite() throws {
        guard self.descriptor >= 0 else {
            throw UnixSocketClientError(.closed, path: self.path)
        }
        guard shutdown(self.descriptor, Int32(SHUT_WR)) == 0 else {
            throw UnixSocketClientError(.send(errno: errno), path: self.path)
        }
    }

    /// Closes the connection. Further calls fail with ``UnixSocketClientError``; closing twice is
    /// harmless.
    public func close() {
        if self.descriptor >= 0 {
            systemClose(self.descriptor)
            self.descriptor = -1
        }
    }

    /// Appends what the socket has to `buffer`; `false` at end of input.
    private func receive() throws -> Bool {
        guard self.descriptor >= 0 else {
            throw UnixSocketClientError(.closed, path: self.path)
        }
        // Drop the lines already returned before growing the buffer.
        if self.lineStart > 0 {
            self.buffer.removeSubrange(..<self.lineStart)
            self.scanFrom -= self.lineStart
            self.lineStart = 0
        }
        while true {
            let descriptor = self.descriptor
            let received = self.chunk.withUnsafeMutableBytes { raw in
                recv(descriptor, raw.baseAddress, raw.count, 0)
            }
            if received > 0 {
                self.buffer.append(contentsOf: self.chunk[..<received])
                return true
            }
            if received == 0 {
                return false
            }
            let code = errno
            switch code {
            case EINTR:
                continue
            case ECONNRESET:
                return false
            case EAGAIN, EWOULDBLOCK:
                throw UnixSocketClientError(.timedOut, path: self.path)
            default:
                throw UnixSocketClientError(.receive(errno: code), path: self.path)
            }
        }
    }

    private static func setTimeout(_ timeout: Duration, option: Int32, on descriptor: Int32, path: String) throws {
        let (seconds, attoseconds) = timeout.components
        guard seconds > 0 || (seconds == 0 && attoseconds > 0) else {
            throw UnixSocketClientError(.invalidTimeout, path: path)
        }
        var value = timeval()
        value.tv_sec = .init(seconds)
        // At least 1 µs: a zero timeval would mean "no timeout".
        value.tv_usec = .init(max(attoseconds / 1_000_000_000_000, seconds == 0 ? 1 : 0))
        let result = setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
        guard result == 0 else {
            throw UnixSocketClientError(.socket(errno: errno), path: path)
        }
    }
}

@available(*, unavailable)
extension UnixSocketClient: Sendable {}

/// A failure of ``UnixSocketClient``, with a message fit for a command-line user.
public struct UnixSocketClientError: Error, CustomStringConvertible, Equatable {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        /// The path is empty, contains NUL or is longer than `limit` bytes.
        case invalidPath(limit: Int)
        /// The timeout is not positive.
        case invalidTimeout
        /// `socket(2)` or `setsockopt(2)` failed.
        case socket(errno: Int32)
        /// `connect(2)` failed: typically `ENOENT` or `ECONNREFUSED` when no daemon listens.
        case connect(errno: Int32)
        /// `send(2)` failed, e.g. `EPIPE` when the daemon closed the connection.
        case send(errno: Int32)
        /// `recv(2)` failed.
        case receive(errno: Int32)
        /// A send or receive took longer than the client's timeout.
        case timedOut
        /// The connection ended in the middle of a line.
        case truncatedLine
        /// The client was used after ``UnixSocketClient/close()``.
        case closed
    }

    /// What went wrong.
    public var kind: Kind
    /// The socket path of the client.
    public var path: String

    /// Creates an error of `kind` for the socket at `path`.
    public init(_ kind: Kind, path: String) {
        self.kind = kind
        self.path = path
    }

    public var description: String {
        switch self.kind {
        case .invalidPath(let limit):
            return "invalid socket path \(self.path): must be 1 to \(limit) bytes without NUL"
        case .invalidTimeout:
            return "invalid timeout for \(self.path): must be positive"
        case .socket(let code):
            return "cannot create a socket for \(self.path): \(Self.message(code))"
        case .connect(let code):
            let hint = code == ENOENT || code == ECONNREFUSED ? " (is crmd running?)" : ""
            return "cannot connect to \(self.path): \(Self.message(code))\(hint)"
        case .send(let code):
            return "cannot send to \(self.path): \(Self.message(code))"
        case .receive(let code):
            return "cannot receive from \(self.path): \(Self.message(code))"
        case .timedOut:
            return "timed out waiting for \(self.path)"
        case .truncatedLine:
            return "connection to \(self.path) closed in the middle of a reply"
        case .closed:
            return "connection to \(self.path) is closed"
        }
    }

    private static func message(_ code: Int32) -> String {
        guard let text = strerror(code) else {
            return "errno \(code)"
        }
        return String(cString: text)
    }
}

// `close` and `send` are also method names of UnixSocketClient; these reach the C functions.
private func systemClose(_ descriptor: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(descriptor)
    #elseif canImport(Musl)
    _ = Musl.close(descriptor)
    #else
    _ = Darwin.close(descriptor)
    #endif
}

private func systemSend(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Darwin)
    // Darwin has no MSG_NOSIGNAL; SO_NOSIGPIPE would be set at creation instead.
    return Darwin.send(descriptor, bytes, count, 0)
    #elseif canImport(Glibc)
    return Glibc.send(descriptor, bytes, count, Int32(MSG_NOSIGNAL))
    #else
    return Musl.send(descriptor, bytes, count, Int32(MSG_NOSIGNAL))
    #endif
}
