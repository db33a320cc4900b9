import CRMJSON
import CRMTesting
import Foundation
import Testing

/// A second crmd never takes the socket of a running one (issue 13, item 10).
@Suite struct SocketTakeoverTests {
    @Test func aSecondCrmdOnTheSocketOfALiveOneRefusesToStart() async throws {
        let directory = TemporaryDirectory()
        let socket = directory.appending("crmd.sock")
        let first = try DaemonProcess(socketPath: socket, dataDirectory: directory.appending("first"))
        defer { first.stop() }
        let client = try RPCClient(socketPath: socket)
        _ = try await client.result("customer.create", ["customer_id": "ada", "first_name": "Ada"])

        #expect {
            _ = try DaemonProcess(socketPath: socket, dataDirectory: directory.appending("second"))
        } throws: { error in
            let message = "\(error)"
            return message.contains("crmd exited with 1") && message.contains("socket \(socket) is in use")
                && message.contains("a live crmd")
        }
        // The second crmd touched neither the socket nor a data directory of its own.
        #expect(!FileManager.default.fileExists(atPath: directory.appending("second")))
        #expect(try await client.result("customer.get", ["customer_id": "ada"])["customer_id"] == "ada")
        let another = try RPCClient(socketPath: socket)
        #expect(try await another.result("customer.get", ["customer_id": "ada"])["customer_id"] == "ada")
        #expect(first.stop() == 0)
    }

    @Test func aStaleSocketFileIsReplaced() async throws {
        let directory = TemporaryDirectory()
        let socket = directory.appending("crmd.sock")
        try #require(makeStaleSocket(at: socket))
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: directory.appending("data"))
        defer { daemon.stop() }
        let client = try RPCClient(socketPath: socket)
        #expect(try await client.result("system.ping")["pong"] == true)
    }

    @Test func aPathThatIsNotASocketIsLeftAloneAndCrmdRefusesToStart() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("crmd.sock")
        try Data("precious".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try DaemonProcess(socketPath: path, dataDirectory: directory.appending("data"))
        } throws: { error in
            "\(error)".contains("crmd exited with 1") && "\(error)".contains("\(path) exists and is not a socket")
        }
        #expect(FileManager.default.contents(atPath: path) == Data("precious".utf8))
        #expect(!FileManager.default.fileExists(atPath: directory.appending("data")))
    }
}
