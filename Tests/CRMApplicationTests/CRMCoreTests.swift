import CRMApplication
import CRMJSON
import CRMProtocol
import CRMRPC
import CRMTesting
import LMDB
import Logging
import Testing

@Suite struct CRMCoreTests {
    let origin = RequestOrigin(uid: 1000, gid: 1000)

    func open(_ directory: TemporaryDirectory) async throws -> CRMCore {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = CoreConfiguration(dataDirectory: directory.appending("data"))
        configuration.seedDefaults = false  // these tests count positions from 1
        return try await CRMCore.start(configuration: configuration, logger: logger)
    }

    /// Runs `body` with a core that is shut down and released before returning, so the directory
    /// can be opened again (as a restarted daemon would).
    func withCore<T: Sendable>(_ directory: TemporaryDirectory, _ body: (CRMCore) async throws -> T) async throws -> T {
        let core = try await self.open(directory)
        do {
            let result = try await body(core)
            await core.shutdown()
            return result
        } catch {
            await core.shutdown()
            throw error
        }
    }

    @Test func concurrentCommandsAreGroupCommittedInSubmissionOrder() async throws {
        let directory = TemporaryDirectory()
        let core = try await self.open(directory)
        let replies = (0..<300).map { index in
            core.commands.submit(
                method: "customer.create",
                params: ["customer_id": .string("c\(index)"), "first_name": "N"],
                origin: self.origin
            )
        }
        var positions: [Int64] = []
        for reply in replies {
            let result = try await reply.value.get()
            positions.append(result["position"]?.intValue ?? 0)
        }
        #expect(positions == Array(1...300))
        await core.shutdown()
    }

    @Test func aRejectionInABatchAbortsOnlyThatCommand() async throws {
        let directory = TemporaryDirectory()
        let core = try await self.open(directory)
        let a = core.commands.submit(method: "customer.create", params: ["customer_id": "a", "emails": [["address": "x@ex.com"]]], origin: self.origin)
        let b = core.commands.submit(method: "customer.create", params: ["customer_id": "b", "emails": [["address": "x@ex.com"]]], origin: self.origin)
        let c = core.commands.submit(method: "customer.create", params: ["customer_id": "c", "first_name": "C"], origin: self.origin)
        #expect(try await a.value.get()["position"] == 1)
        guard case .failure(let error) = await b.value else {
            Issue.record("duplicate email accepted")
            return
        }
        #expect(error.reason == "duplicate_email")
        #expect(try await c.value.get()["position"] == 2)
        await core.shutdown()
    }

    @Test func idempotencySurvivesARestart() async throws {
        let directory = TemporaryDirectory()
        let params: JSON = ["first_name": "Ada", "command_id": "once"]
        let first = try await self.withCore(directory) { core in
            try await core.commands.submit(method: "customer.create", params: params, origin: self.origin).value.get()
        }
        let core = try await self.open(directory)
        let second = try await core.commands.submit(method: "customer.create", params: params, origin: self.origin).value.get()
        #expect(first == second)
        let stats = try await core.queries.query(method: "system.stats", params: nil).value.get()
        #expect(stats["event_count"] == 1)
        await core.shutdown()
    }

    @Test func projectionsAreRebuiltWhenTheirStoredVersionDiffers() async throws {
        let directory = TemporaryDirectory()
        let (id, before) = try await self.withCore(directory) { core in
            let id = try await core.commands.submit(
                method: "customer.create",
                params: ["first_name": "Ada", "tags": ["vip"]],
                origin: self.origin
            ).value.get()["customer_id"]!
            return (id, try await core.queries.query(method: "customer.get", params: ["customer_id": id]).value.get())
        }

        // Pretend the stored tables came from another projector version and were damaged.
        do {
            let environment = try Environment(path: directory.appending("data"))
            try environment.write { txn in
                let meta = try txn.openDatabase("meta")
                try txn.put(meta, "proj.customers.version", Array("0".utf8))
                try txn.clear(try txn.openDatabase("proj.customers.v1.profiles"))
            }
        }
        let core = try await self.open(directory)
        let after = try await core.queries.query(method: "customer.get", params: ["customer_id": id]).value.get()
        #expect(after == before)
        let stats = try await core.queries.query(method: "system.stats", params: nil).value.get()
        #expect(stats["projections"]?[1]?["checkpoint"] == 1)
        await core.shutdown()
    }

    @Test func aCommandAfterShutdownIsRefused() async throws {
        let directory = TemporaryDirectory()
        let core = try await self.open(directory)
        await core.shutdown()
        guard case .failure(let error) = await core.commands.submit(method: "customer.create", params: ["first_name": "A"], origin: self.origin).value
        else {
            Issue.record("accepted after shutdown")
            return
        }
        #expect(error.reason == "shutting_down")
    }

    @Test func aSecondCoreOnTheSameDirectoryIsRefused() async throws {
        let directory = TemporaryDirectory()
        let core = try await self.open(directory)
        await #expect(throws: StartupError.self) { _ = try await self.open(directory) }
        await core.shutdown()
    }
}
