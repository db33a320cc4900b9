@testable import CRMApplication
import CRMDomain
import CRMEventStore
import CRMJSON
import CRMParams
import CRMProjections
import CRMProtocol
import CRMRPC
import CRMTesting
import LMDB
import Logging
import Testing

/// The idempotency table keeps a command's typed outcome, and a retry gets the reply it got the first
/// time byte for byte, also for rows an earlier crmd stored as JSON-RPC reply text.
@Suite struct StoredOutcomeTests {
    let origin = RequestOrigin(uid: 1000, gid: 1000)

    func open(_ directory: TemporaryDirectory) async throws -> CRMCore {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = CoreConfiguration(dataDirectory: directory.appending("data"))
        configuration.seedDefaults = false
        return try await CRMCore.start(configuration: configuration, logger: logger)
    }

    @Test func typedOutcomesRoundTrip() throws {
        let committed = CommandOutcome.committed(
            CommandReceipt(
                result: CommandResult(.pipeline, "sales", version: 3),
                events: [
                    AppendedEvent(seq: 7, type: "PipelineDefined", stream: "pipeline-sales", streamVersion: 3),
                    AppendedEvent(seq: 8, type: "DealStageChanged", stream: "deal-d1", streamVersion: 12),
                ],
                position: 8
            )
        )
        let rejected = CommandOutcome.rejected(
            Rejection(
                .projectionRebuilding,
                field: "name",
                "projection customers is being rebuilt (41.5% done)",
                details: [
                    "projection": "customers", "count": .int(3), "ratio": .double(0.5), "flag": .bool(true),
                    "missing": .null, "ids": .strings(["a", "b"]),
                    "progress": .fields(["percent": .double(41.5), "eta_seconds": .null]),
                ]
            )
        )
        let bare = CommandOutcome.rejected(Rejection(.notFound, "customer c9 does not exist"))
        for outcome in [committed, rejected, bare] {
            let row = try #require(StoredOutcome.encoded(outcome))
            #expect(try StoredOutcome.decoded(row) == outcome)
            // Every truncation is an error, never a different outcome.
            for end in 0..<row.count {
                #expect(throws: StateDecodingError.self) { try StoredOutcome.decoded(Array(row[..<end])) }
            }
            #expect(throws: StateDecodingError.self) { try StoredOutcome.decoded(row + [0]) }
        }
        #expect(StoredOutcome.encoded(.rebuildsStarted(["projections": []])) == nil)
    }

    @Test func aRetryGetsTheSameReplyBytesForNewAndOldRows() async throws {
        let directory = TemporaryDirectory()
        // Rows as a crmd before typed outcomes stored them: JSON-RPC result and error objects.
        let oldResult: JSON = [
            "customer_id": "old-1", "position": 41,
            "events": [["seq": 41, "type": "CustomerCreated", "stream": "customer-old-1", "stream_version": 1]],
        ]
        let oldError: JSON = [
            "code": -32008, "message": "x@ex.com already belongs to customer c7",
            "data": ["reason": "duplicate_email", "field": "emails[0].address", "details": ["existing_customer_id": "c7"]],
        ]
        do {
            let environment = try Environment(path: directory.appending("data"))
            let store = try EventStore(environment: environment)
            try environment.write { txn in
                try store.storeReply(JSON.object(["result": oldResult]).serialized(), commandID: "old-ok", txn)
                try store.storeReply(JSON.object(["error": oldError]).serialized(), commandID: "old-error", txn)
            }
        }
        let core = try await self.open(directory)
        func call(_ params: JSON) async -> [UInt8] {
            let reply = await core.commands.submit(method: "customer.create", params: params, origin: self.origin).value
            return RPCReplies.response(id: 1, reply)!.serialized()
        }
        let oldOK = await call(["first_name": "Ada", "command_id": "old-ok"])
        #expect(oldOK == RPCResponse.success(id: 1, result: oldResult).serialized())
        let oldFailed = await call(["first_name": "Ada", "command_id": "old-error"])
        #expect(oldFailed == RPCResponse.failure(id: 1, error: RPCError(json: oldError)!).serialized())

        // New rows: a committed command and a rejected one replay exactly, and write nothing more.
        let first = await call(["first_name": "Ada", "emails": [["address": "ada@ex.com"]], "command_id": "new-ok"])
        let refused = await call(["first_name": "Bob", "emails": [["address": "ada@ex.com"]], "command_id": "new-no"])
        #expect(try JSON.parse(refused)["error"]?["data"]?["reason"] == "duplicate_email")
        #expect(await call(["first_name": "Ada", "command_id": "new-ok"]) == first)
        #expect(await call(["first_name": "Bob", "command_id": "new-no"]) == refused)
        let stats = try await core.queries.query(method: "system.stats", params: nil).value.get()
        #expect(stats["event_count"] == 1)
        await core.shutdown()
    }

    /// A command computed on a read snapshot holds only while the log has not moved on since.
    @Test func aCommandComputedAtAnOlderHeadIsAVersionConflict() async throws {
        let directory = TemporaryDirectory()
        let core = try await self.open(directory)
        let snapshot = RfmSnapshotTaken(
            snapshotID: "s1", asOfDate: "2025-06-30", windowDays: 365, currency: "EUR", mapVersion: 0, population: 0
        )
        let head = try await core.queries.query(method: "system.stats", params: nil).value.get()["head"]?["position"]
        let stale = UInt64(try #require(head?.intValue)) + 1
        let outcome = await core.commands.submit(
            TakeRfmSnapshot(snapshot: snapshot, basedOnSeq: stale), options: CommandOptions(), origin: self.origin
        ).value
        guard case .rejected(let rejection) = outcome else {
            Issue.record("appended: \(outcome)")
            return
        }
        #expect(rejection.reason == .versionConflict && rejection.field == "based_on_seq")
        #expect(rejection.details?["actual"] == .int(Int64(stale - 1)))
        await core.shutdown()
    }

    @Test func theMethodTableMatchesWhatTheCoreAnswers() async throws {
        let directory = TemporaryDirectory()
        let core = try await self.open(directory)
        // The server itself answers the subscription methods on the connection.
        let connectionMethods: Set<String> = ["events.subscribe", "events.unsubscribe"]
        for method in RPCMethods.all {
            switch method.kind {
            case .command:
                #expect(method.access >= .write, "\(method.name)")
                guard method.name != "projection.rebuild" else { continue }
                guard method.name != FitValueModel.method else {
                    #expect(throws: Rejection.self, "value.model.fit with no params") {
                        var params = try Params(nil)
                        _ = try ValueFitRequest(params: &params)
                    }
                    continue
                }
                guard method.name != TakeRfmSnapshot.method else {
                    #expect(throws: Rejection.self, "rfm.snapshot with an unknown param") {
                        var params = try Params(["colour": "red"])
                        _ = try RfmSnapshotRequest(params: &params)
                    }
                    continue
                }
                // Its params (`campaign_id` and the common ones) are read where it is routed, and its
                // rejections are tested over the socket (CampaignTests).
                guard method.name != SendCampaign.method else { continue }
                let decode = try #require(method.decode, "\(method.name) has no params decoder")
                #expect(throws: Rejection.self, "\(method.name) with no params") {
                    var params = try Params(nil)
                    _ = try decode(&params)
                }
            case .query, .system:
                #expect(method.decode == nil)
                #expect(
                    core.queries.isQuery(method.name) || connectionMethods.contains(method.name),
                    "the core does not answer \(method.name)"
                )
            }
        }
        // Every query of every read model is in the table.
        for model in ProjectorRegistry.readModels {
            let projector = try core.queries.storage.environment.write { txn in try model(txn, 0, nil) }
            for name in projector.queries.keys {
                #expect(RPCMethods.method(name)?.kind == .query, "\(name) is missing from the method table")
            }
        }
        #expect(Set(RPCMethods.all.map(\.name)).count == RPCMethods.all.count)
        await core.shutdown()
    }
}
