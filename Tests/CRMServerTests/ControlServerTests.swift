import CRMProtocol
import CRMServer
import CRMTesting
import Foundation
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing

@Suite("ControlServer")
struct ControlServerTests {
    @Test func answersOneRequest() async throws {
        try await withServer(handler: UppercaseHandler()) { server in
            let client = try TestClient(path: server.path)
            try await client.sendLine("hello")
            #expect(try await client.readLine() == "HELLO")
        }
    }

    @Test func readsOnTheEventLoopAndRunsReplyTasksElsewhere() async throws {
        try await withServer(handler: WhereHandler()) { server in
            let client = try TestClient(path: server.path)
            try await client.send("ready\ntask\nready\n")
            #expect(try await client.readLines(3) == ["start:loop", "task:elsewhere", "start:loop"])
        }
    }

    @Test func ignoresEmptyLinesAndAcceptsCRLF() async throws {
        try await withServer(handler: UppercaseHandler()) { server in
            let client = try TestClient(path: server.path)
            try await client.send("\n\r\n\na\r\n\nb\n")
            #expect(try await client.readLines(2) == ["A", "B"])
        }
    }

    @Test func writesNoReplyWhenTheHandlerReturnsNil() async throws {
        try await withServer(handler: UppercaseHandler()) { server in
            let client = try TestClient(path: server.path)
            try await client.send("notify 1\nx\nnotify 2\ny\n")
            #expect(try await client.readLines(2) == ["X", "Y"])
        }
    }

    @Test func keepsRequestOrderWhenRepliesCompleteOutOfOrder() async throws {
        let handler = ReverseOrderHandler(groupSize: 40)
        let count = 1000
        let replies = try await withServer(handler: handler) { server in
            let client = try TestClient(path: server.path)
            try await client.send((0..<count).map { "request-\($0)\n" }.joined())
            return try await client.readLines(count)
        }
        #expect(replies == (0..<count).map { "request-\($0)" })
        // The handler really finished them out of order: each group of 40 last-to-first.
        let order = handler.completionOrder
        #expect(order.count == count)
        #expect(Array(order.prefix(40)) == Array((0..<40).reversed()))
    }

    @Test func boundsTheRequestsInFlightPerConnection() async throws {
        let handler = GateHandler()
        try await withServer(handler: handler, maxInFlight: 4) { server in
            let client = try TestClient(path: server.path)
            try await client.send((0..<20).map { "wait-\($0)\n" }.joined())
            await handler.waitForStarts(4)
            handler.open()
            #expect(try await client.readLines(20) == (0..<20).map { "wait-\($0)" })
        }
        #expect(handler.maxRunning == 4)
    }

    @Test func servesManyConnectionsConcurrently() async throws {
        try await withServer(handler: UppercaseHandler()) { server in
            // Open every connection first and pipeline on all of them, then read: the server must
            // be serving them all at the same time.
            let replies = try await onThread { () throws -> [[String]] in
                let clients = try (0..<50).map { _ in try UnixSocketClient(path: server.path, timeout: .seconds(20)) }
                for (index, client) in clients.enumerated() {
                    try client.send(Array((0..<20).map { "c\(index)-r\($0)\n" }.joined().utf8))
                }
                return try clients.map { client in
                    try (0..<20).map { _ in String(decoding: try client.readLine() ?? [], as: UTF8.self) }
                }
            }
            for (index, lines) in replies.enumerated() {
                #expect(lines == (0..<20).map { "C\(index)-R\($0)" })
            }
        }
    }

    @Test func concurrentClientsOnSeparateThreads() async throws {
        try await withServer(handler: UppercaseHandler()) { server in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<16 {
                    group.addTask {
                        let client = try TestClient(path: server.path)
                        for round in 0..<25 {
                            try await client.sendLine("t\(index)-\(round)")
                            #expect(try await client.readLine() == "T\(index)-\(round)")
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test func answersAnOversizedLineAndClosesOnlyThatConnection() async throws {
        try await withServer(handler: UppercaseHandler(), maxLineBytes: 1024) { server in
            let bystander = try TestClient(path: server.path)
            try await bystander.sendLine("before")
            #expect(try await bystander.readLine() == "BEFORE")

            let offender = try TestClient(path: server.path)
            try await offender.send("first\n" + String(repeating: "x", count: 1025) + "\nafter\n")
            #expect(try await offender.readLine() == "FIRST")
            #expect(try await offender.readLine() == "too long: 1024")
            #expect(try await offender.readLine() == nil)

            try await bystander.sendLine("still here")
            #expect(try await bystander.readLine() == "STILL HERE")
        }
    }

    @Test func answersAPartialLineThatGrowsPastTheLimit() async throws {
        try await withServer(handler: UppercaseHandler(), maxLineBytes: 1024) { server in
            let client = try TestClient(path: server.path)
            try await client.send(String(repeating: "y", count: 3000))
            #expect(try await client.readLine() == "too long: 1024")
            #expect(try await client.readLine() == nil)
        }
    }

    @Test func acceptsALineOfExactlyTheLimit() async throws {
        try await withServer(handler: UppercaseHandler(), maxLineBytes: 1024) { server in
            let client = try TestClient(path: server.path)
            try await client.sendLine(String(repeating: "z", count: 1024))
            #expect(try await client.readLine() == String(repeating: "Z", count: 1024))
        }
    }

    @Test func handlesTheDefaultOneMebibyteLimit() async throws {
        try await withServer(handler: UppercaseHandler()) { server in
            let client = try TestClient(path: server.path)
            try await client.sendLine(String(repeating: "m", count: 1_048_576))
            #expect(try await client.readLine()?.count == 1_048_576)
            try await client.sendLine(String(repeating: "m", count: 1_048_577))
            #expect(try await client.readLine() == "too long: 1048576")
            #expect(try await client.readLine() == nil)
        }
    }

    @Test func passesThePeerCredentials() async throws {
        try await withServer(handler: UppercaseHandler()) { server in
            let client = try TestClient(path: server.path)
            try await client.sendLine("whoami")
            #expect(try await client.readLine() == "\(getpid()) \(getuid()) \(getgid())")
        }
    }

    @Test func survivesAClientThatLeavesMidRequest() async throws {
        let handler = GateHandler()
        try await withServer(handler: handler) { server in
            let leaver = try TestClient(path: server.path)
            try await leaver.sendLine("wait-leaver")
            await handler.waitForStarts(1)
            leaver.close()

            let stayer = try TestClient(path: server.path)
            try await stayer.sendLine("one")
            #expect(try await stayer.readLine() == "one")
            // The leaver's reply is produced now and has nowhere to go.
            handler.open()
            try await stayer.sendLine("two")
            #expect(try await stayer.readLine() == "two")
        }
    }

    @Test func repliesToAClientThatHalfClosesAfterItsRequests() async throws {
        try await withServer(handler: UppercaseHandler()) { server in
            let lines = try await onThread { () throws -> [String] in
                let client = try UnixSocketClient(path: server.path, timeout: .seconds(20))
                try client.send(Array("a\nb\nc\n".utf8))
                try client.shutdownWrite()
                var lines: [String] = []
                while let line = try client.readLine() {
                    lines.append(String(decoding: line, as: UTF8.self))
                }
                return lines
            }
            #expect(lines == ["A", "B", "C"])
        }
    }

    @Test func socketFileHasTheConfiguredMode() async throws {
        for mode: UInt32 in [0o660, 0o600] {
            try await withServer(handler: UppercaseHandler(), socketFileMode: mode) { server in
                var info = stat()
                #expect(lstat(server.path, &info) == 0)
                #expect(info.st_mode & S_IFMT == S_IFSOCK)
                #expect(UInt32(info.st_mode) & 0o777 == mode)
            }
        }
    }

    @Test func gracefulShutdownFinishesInFlightRequestsAndRemovesTheSocket() async throws {
        let handler = GateHandler()
        let path = try await withServer(handler: handler) { server in
            let busy = try TestClient(path: server.path)
            let idle = try TestClient(path: server.path)
            try await idle.sendLine("hello")
            #expect(try await idle.readLine() == "hello")
            try await busy.sendLine("wait-1")
            await handler.waitForStarts(2)

            server.trigger.triggerGracefulShutdown()
            // The request started before the shutdown still gets its reply, then the server
            // closes the connection; the idle connection is closed too.
            handler.open()
            #expect(try await busy.readLine() == "wait-1")
            #expect(try await busy.readLine() == nil)
            #expect(try await idle.readLine() == nil)
            return server.path
        }
        // `withServer` returned after `run()` did: the socket is gone and nobody listens.
        #expect(access(path, F_OK) != 0)
        #expect(throws: UnixSocketClientError.self) { try UnixSocketClient(path: path) }
    }

    @Test func runningInAServiceGroupStopsOnShutdownSignal() async throws {
        let directory = try SocketDirectory()
        let path = directory.path + "/s.sock"
        let (listening, listeningContinuation) = AsyncStream<Void>.makeStream()
        let server = ControlServer(
            configuration: .init(socketPath: path),
            handler: UppercaseHandler(),
            logger: testLogger(),
            onListening: { _ in listeningContinuation.finish() }
        )
        let group = ServiceGroup(services: [server], logger: testLogger())
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            for await _ in listening {}
            let client = try TestClient(path: path)
            try await client.sendLine("ping")
            #expect(try await client.readLine() == "PING")
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            #expect(try await client.readLine() == nil)
        }
        #expect(access(path, F_OK) != 0)
    }

    @Test func cancellationStopsTheServer() async throws {
        let directory = try SocketDirectory()
        let path = directory.path + "/s.sock"
        let (listening, listeningContinuation) = AsyncStream<Void>.makeStream()
        let handler = GateHandler()
        let server = ControlServer(
            configuration: .init(socketPath: path),
            handler: handler,
            logger: testLogger(),
            onListening: { _ in listeningContinuation.finish() }
        )
        let run = Task { try await server.run() }
        for await _ in listening {}
        let client = try TestClient(path: path)
        try await client.sendLine("wait-forever")
        await handler.waitForStarts(1)
        run.cancel()
        // The held request ignores cancellation; once it ends the server is gone.
        handler.open()
        _ = await run.result
        #expect(try await client.readLine() == nil)
        #expect(access(path, F_OK) != 0)
    }

    /// Connections still being accepted while the server stops must be closed, not dropped (a
    /// dropped NIOAsyncChannel traps) nor left hanging.
    @Test(arguments: [false, true])
    func survivesConnectionsArrivingWhileStopping(cancel: Bool) async throws {
        for _ in 0..<5 {
            let directory = try SocketDirectory()
            let path = directory.path + "/s.sock"
            try await testGracefulShutdown { trigger in
                let (listening, listeningContinuation) = AsyncStream<Void>.makeStream()
                let server = ControlServer(
                    configuration: .init(socketPath: path),
                    handler: UppercaseHandler(),
                    logger: testLogger(),
                    onListening: { _ in listeningContinuation.finish() }
                )
                let run = Task { try await server.run() }
                for await _ in listening {}
                let (progress, progressContinuation) = AsyncStream<Void>.makeStream()
                let storm = Task {
                    try await onThread { () -> Int in
                        defer { progressContinuation.finish() }
                        var hung = 0
                        for attempt in 0..<300 {
                            if attempt == 20 {
                                progressContinuation.finish()
                            }
                            // A connection left hanging never ends; one that is merely slow under a
                            // loaded test run (every suite in parallel on 2 cores) ends well within 30 s.
                            guard let client = try? UnixSocketClient(path: path, timeout: .seconds(30)) else {
                                continue
                            }
                            try? client.sendLine(Array("x".utf8))
                            // "X" when served, nil (end of input) when closed unserved; never a timeout.
                            do {
                                _ = try client.readLine()
                            } catch let error as UnixSocketClientError where error.kind == .timedOut {
                                hung += 1
                            } catch {}
                        }
                        return hung
                    }
                }
                // Stop while the storm is in full swing.
                for await _ in progress {}
                if cancel {
                    run.cancel()
                } else {
                    trigger.triggerGracefulShutdown()
                }
                _ = await run.result
                let hung = try await storm.value
                #expect(hung == 0)
                #expect(access(path, F_OK) != 0)
            }
        }
    }

    @Test func replacesAStaleSocketFile() async throws {
        let directory = try SocketDirectory()
        let path = directory.path + "/s.sock"
        // What a crashed server leaves behind: a socket file nobody listens on.
        try #require(makeStaleSocket(at: path))
        try await withServerOn(path: path) {
            let client = try TestClient(path: path)
            try await client.sendLine("x")
            #expect(try await client.readLine() == "X")
        }
    }

    @Test func refusesThePathOfALiveServer() async throws {
        try await withServer(handler: UppercaseHandler()) { first in
            let second = ControlServer(
                configuration: .init(socketPath: first.path),
                handler: UppercaseHandler(),
                logger: testLogger()
            )
            await #expect {
                try await second.run()
            } throws: { error in
                "\(error)".contains("socket \(first.path) is in use: a live crmd")
            }
            // The first server still owns the path.
            let client = try TestClient(path: first.path)
            try await client.sendLine("x")
            #expect(try await client.readLine() == "X")
        }
    }

    @Test func refusesAPathThatIsNotASocket() async throws {
        let directory = try SocketDirectory()
        let path = directory.path + "/s.sock"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: path))
        let server = ControlServer(
            configuration: .init(socketPath: path),
            handler: UppercaseHandler(),
            logger: testLogger()
        )
        await #expect {
            try await server.run()
        } throws: { error in
            "\(error)".contains("\(path) exists and is not a socket")
        }
        #expect(FileManager.default.contents(atPath: path) == Data("keep".utf8))
    }
}

/// Runs a second server on an existing path until `body` returns.
private func withServerOn(path: String, _ body: @escaping @Sendable () async throws -> Void) async throws {
    try await testGracefulShutdown { trigger in
        let (listening, listeningContinuation) = AsyncStream<Void>.makeStream()
        let server = ControlServer(
            configuration: .init(socketPath: path),
            handler: UppercaseHandler(),
            logger: testLogger(),
            onListening: { _ in listeningContinuation.finish() }
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            for await _ in listening {}
            try await body()
            trigger.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }
}
