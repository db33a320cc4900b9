import CRMProtocol
import Foundation
import Testing

@Suite("UnixSocketClient")
struct UnixSocketClientTests {
    @Test func explainsAMissingDaemon() throws {
        let directory = try SocketDirectory()
        let path = directory.path + "/absent.sock"
        let error = #expect(throws: UnixSocketClientError.self) { try UnixSocketClient(path: path) }
        #expect(error?.kind == .connect(errno: ENOENT))
        #expect(error?.description == "cannot connect to \(path): No such file or directory (is crmd running?)")
    }

    @Test func rejectsAPathTooLongForSunPath() {
        let path = "/tmp/" + String(repeating: "p", count: 200)
        let error = #expect(throws: UnixSocketClientError.self) { try UnixSocketClient(path: path) }
        #expect(error?.kind == .invalidPath(limit: 107))
    }

    @Test func timesOutInsteadOfHanging() async throws {
        let handler = GateHandler()
        try await withServer(handler: handler) { server in
            let error = try await onThread { () -> UnixSocketClientError? in
                let client = try UnixSocketClient(path: server.path, timeout: .milliseconds(50))
                try client.sendLine(Array("wait".utf8))
                do {
                    _ = try client.readLine()
                    return nil
                } catch let error as UnixSocketClientError {
                    return error
                }
            }
            #expect(error?.kind == .timedOut)
            handler.open()
        }
    }

    @Test func readsLinesSplitAndJoinedAcrossReceives() async throws {
        try await withServer(handler: UppercaseHandler()) { server in
            let lines = try await onThread { () throws -> [String] in
                let client = try UnixSocketClient(path: server.path)
                defer { client.close() }
                // Many small replies arrive in few receives; one large reply spans several.
                let large = String(repeating: "q", count: 200_000)
                try client.send(Array(((0..<100).map { "l\($0)\n" }.joined() + large + "\n").utf8))
                var lines: [String] = []
                for _ in 0..<101 {
                    lines.append(String(decoding: try client.readLine() ?? [], as: UTF8.self))
                }
                return lines
            }
            #expect(lines.prefix(100) == ArraySlice((0..<100).map { "L\($0)" }))
            #expect(lines.last == String(repeating: "Q", count: 200_000))
        }
    }

    @Test func failsClearlyAfterClose() async throws {
        try await withServer(handler: UppercaseHandler()) { server in
            let error = try await onThread { () -> UnixSocketClientError? in
                let client = try UnixSocketClient(path: server.path)
                client.close()
                client.close()
                do {
                    try client.sendLine(Array("x".utf8))
                    return nil
                } catch let error as UnixSocketClientError {
                    return error
                }
            }
            #expect(error?.kind == .closed)
            #expect(error?.description == "connection to \(server.path) is closed")
        }
    }
}
