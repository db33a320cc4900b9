import CRMDomain
import CRMEventStore
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import LMDB
import Testing

/// What crmd does when its data directory was tampered with or damaged while it was stopped (or
/// under it): one writer only, no silent fresh start, no appending onto a broken chain, a clear
/// error for events it cannot read.
@Suite struct DataSafetyTests {
    /// Starts crmd on `data` (with `environment`), expecting it to refuse; returns what it wrote to stderr.
    static func refusal(
        _ directory: TemporaryDirectory,
        _ data: String,
        environment: [String: String] = [:]
    ) throws -> String {
        do {
            let daemon = try DaemonProcess(
                socketPath: directory.appending("refused.sock"), dataDirectory: data, environment: environment
            )
            daemon.stop()
            Issue.record("crmd started on \(data)")
            return ""
        } catch let error as DaemonProcessError {
            return error.message
        }
    }

    /// A log of a few customers in `data`, with crmd stopped again.
    func makeLog(_ directory: TemporaryDirectory, customers: Int = 3) async throws -> String {
        let data = directory.appending("data")
        let socket = directory.appending("setup.sock")
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        let client = try RPCClient(socketPath: socket)
        for index in 1...customers {
            _ = try await client.result("customer.create", ["first_name": .string("Person \(index)")])
        }
        #expect(daemon.stop() == 0)
        return data
    }

    @Test func aSecondCrmdStopsEvenWhenTheLockFilesWereDeleted() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let first = try DaemonProcess(socketPath: directory.appending("a.sock"), dataDirectory: data)
        #expect(unlink(data + "/crmd.lock") == 0)
        #expect(unlink(data + "/lock.mdb") == 0)
        let message = try Self.refusal(directory, data)
        #expect(message.contains("in use by another crmd"))
        #expect(message.contains("pid") == false || message.contains("\(first.process.processIdentifier)"))
        // The first crmd still serves and writes.
        let client = try RPCClient(socketPath: directory.appending("a.sock"))
        _ = try await client.result("customer.create", ["first_name": "Still here"])
        #expect(first.stop() == 0)
    }

    @Test func anEmptiedDataFileIsRefusedNotReplacedByAFreshLog() async throws {
        let directory = TemporaryDirectory()
        let data = try await self.makeLog(directory)
        #expect(truncate(data + "/data.mdb", 0) == 0)
        let message = try Self.refusal(directory, data)
        #expect(message.contains("\(data)/data.mdb is empty"))
        // Nothing was written over it.
        #expect(try FileManager.default.attributesOfItem(atPath: data + "/data.mdb")[.size] as? Int == 0)
    }

    @Test func aMissingDataFileIsRefusedWhereALogWas() async throws {
        let directory = TemporaryDirectory()
        let data = try await self.makeLog(directory)
        #expect(unlink(data + "/data.mdb") == 0)
        let message = try Self.refusal(directory, data)
        #expect(message.contains("\(data)/data.mdb is missing"))
        #expect(!FileManager.default.fileExists(atPath: data + "/data.mdb"))
    }

    @Test func aTruncatedDataFileIsRefusedWithoutACrash() async throws {
        let directory = TemporaryDirectory()
        let data = try await self.makeLog(directory, customers: 40)
        let file = data + "/data.mdb"
        let size = try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        #expect(truncate(file, off_t(size / 2 / 4096 * 4096)) == 0)
        let message = try Self.refusal(directory, data)
        #expect(message.contains("\(file) is truncated"))
    }

    @Test func aBrokenChainAtTheEndIsFoundAtStartAndNothingIsAppended() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        var daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        var client = try RPCClient(socketPath: socket)
        let created = try await client.result(
            "customer.create",
            ["first_name": "Last", "correlation_id": "tail-tamper-0815"]
        )
        let target = try #require(created["position"]?.intValue)
        #expect(daemon.stop() == 0)
        // Change the last event (every copy of it in the file).
        let file = data + "/data.mdb"
        var bytes = try #require(FileManager.default.contents(atPath: file))
        let needle = Data("tail-tamper-0815".utf8)
        var searchFrom = bytes.startIndex
        while let range = bytes.range(of: needle, in: searchFrom..<bytes.endIndex) {
            bytes[range.lowerBound] = UInt8(ascii: "T")
            searchFrom = range.upperBound
        }
        try bytes.write(to: URL(fileURLWithPath: file))

        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        let before = try await Snapshot.take(client)
        let error = try await client.error("customer.create", ["first_name": "Appended"])
        #expect(error.code == -32034)
        #expect(error.reason == "chain_broken")
        #expect(error.data?["details"]?["position"] == .int(target))
        #expect(try await Snapshot.take(client) == before)
        // Queries are still answered, and the stats say why commands are refused.
        #expect(try await client.result("system.stats")["commands_refused"]?["reason"] == "chain_broken")
        #expect(try await client.result("audit.verify")["broken_at"] == .int(target))
        #expect(daemon.stop() == 0)
    }

    @Test func anEventOfANewerSchemaGetsItsOwnErrorAndFailsRebuildsVisibly() async throws {
        let directory = TemporaryDirectory()
        let data = try await self.makeLog(directory, customers: 1)
        // A newer crmd wrote an event this one does not know the shape of.
        let position: UInt64 = try {
            let environment = try Environment(path: data)
            let store = try EventStore(environment: environment)
            return try environment.write { txn in
                let newer = NewEvent(
                    type: "CustomerTagged",
                    schemaVersion: EventSchema.currentVersion(of: "CustomerTagged") + 1,
                    stream: "customer-future",
                    data: ["tag": "x"]
                )
                let metadata = AppendMetadata(
                    occurredAt: 1_700_000_000_000,
                    recordedAt: 1_700_000_000_000,
                    actor: Actor(uid: 0, gid: 0, onBehalfOf: nil),
                    commandID: nil,
                    correlationID: nil
                )
                return try store.append([newer], metadata: metadata, txn)[0].seq
            }
        }()
        let socket = directory.appending("crmd.sock")
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        let client = try RPCClient(socketPath: socket)

        let read = try await client.error("events.read", ["from": .int(Int64(position))])
        #expect(read.reason == "unsupported_schema_version")
        #expect(read.code == -32035)
        #expect(read.data?["details"]?["position"] == .int(Int64(position)))
        #expect(read.data?["details"]?["schema_version"] == .int(Int64(EventSchema.currentVersion(of: "CustomerTagged") + 1)))
        // Stored as it is, the event can still be read (for export).
        #expect(try await client.result("events.read", ["from": .int(Int64(position)), "upcast": false])["events"]?[0] != nil)

        // Every read model failed at that position, visibly, instead of retrying for ever.
        let status = try await client.result("projection.status")
        let projections = status["projections"]?.arrayValue ?? []
        #expect(projections.count > 1)
        for projection in projections {
            #expect(projection["state"] == "failed")
            #expect(projection["failure"]?["position"] == .int(Int64(position)))
        }
        // Commands are refused with the same reason: the decision state misses the event.
        let before = try await Snapshot.take(client)
        let command = try await client.error("customer.create", ["first_name": "After"])
        #expect(command.reason == "unsupported_schema_version")
        #expect(try await Snapshot.take(client) == before)
        #expect(daemon.stop() == 0)
    }
}
