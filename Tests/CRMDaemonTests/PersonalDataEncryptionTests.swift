import CRMApplication
import CRMEventStore
import CRMJSON
import CRMProtocol
import CRMRPC
import CRMTesting
import Foundation
import LMDB
import Testing

/// Personal data at rest in the log: every event's `pii` is sealed under its subject's data key, the
/// data keys live wrapped in the key store, and the key-encryption key outside the data directory.
@Suite struct PersonalDataEncryptionTests {
    /// Distinctive personal values that must never appear in the log's records.
    static let secrets = ["Zebulon", "Quixotewood", "zebulon.q@example.org", "7946 0123", "Kilimanjaro Street", "Zanzibar"]

    /// Which of ``secrets`` (and of their comparison forms: lower-cased, a phone number's digits) the
    /// raw bytes of the file at `path` hold, whatever table, free page or index they would be in.
    static func secretsFound(inFile path: String) throws -> [String] {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let lowered = Data(bytes.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 })
        let forms = Self.secrets.map { $0.lowercased() } + ["442079460123", "79460123"]
        return forms.filter { lowered.range(of: Data($0.utf8)) != nil }
    }

    /// Writes customers, an activity, a deal and a ticket carrying ``secrets``.
    static func populate(_ client: RPCClient) async throws {
        _ = try await client.result(
            "customer.create",
            [
                "customer_id": "zq", "first_name": "Zebulon", "last_name": "Quixotewood",
                "emails": [["address": "zebulon.q@example.org"]], "phones": [["number": "+44 20 7946 0123"]],
                "address": ["street": "Kilimanjaro Street", "city": "Zanzibar"],
            ]
        )
        _ = try await client.result("customer.create", ["customer_id": "bo", "first_name": "Bo"])
        _ = try await client.result(
            "customer.update", ["customer_id": "zq", "set": ["job_title": "Zanzibar envoy"]]
        )
        // A rejection is kept with its command id (idempotency): it must not quote the address.
        let taken = try await client.error(
            "customer.create",
            ["first_name": "Zed", "emails": [["address": "zebulon.q@example.org"]], "command_id": "dup-1"]
        )
        #expect(taken.reason == "duplicate_email")
        #expect(!taken.message.contains("zebulon"))
        _ = try await client.result(
            "customer.set_consent",
            ["customer_id": "zq", "channel": "email", "status": "opted_in", "address": "zebulon.q@example.org"]
        )
        _ = try await client.result(
            "activity.log",
            ["activity_id": "a1", "type": "call", "direction": "outbound", "customer_ids": ["zq"], "subject": "Call with Zebulon"]
        )
        _ = try await client.result(
            "activity.log",
            ["activity_id": "a2", "type": "meeting", "customer_ids": ["zq", "bo"], "subject": "Quixotewood visit"]
        )
        _ = try await client.result(
            "deal.create",
            ["deal_id": "d1", "pipeline_id": "sales", "name": "Quixotewood renewal", "customer_ids": ["zq"]]
        )
        _ = try await client.result(
            "ticket.open", ["ticket_id": "t1", "customer_id": "zq", "subject": "Zebulon's printer", "channel": "email"]
        )
        _ = try await client.result(
            "ticket.reply", ["ticket_id": "t1", "author": "agent", "public": true, "body": "Hello Zebulon"]
        )
    }

    /// The raw records of the `events` database of the stopped crmd's data directory.
    static func records(_ dataDirectory: String) throws -> [[UInt8]] {
        let environment = try Environment(path: dataDirectory)
        return try environment.read { txn in
            let events = try txn.openDatabase("events", create: false)
            return try txn.withCursor(events) { cursor in
                var records: [[UInt8]] = []
                var entry = try cursor.first()
                while let found = entry {
                    records.append(Array(found.value))
                    entry = try cursor.next()
                }
                return records
            }
        }
    }

    @Test func theLogHoldsNoPersonalDataInPlainTextAndEveryReaderStillSeesIt() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        var daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        var client = try RPCClient(socketPath: socket)
        try await Self.populate(client)
        let profile = try await client.result("customer.get", ["customer_id": "zq"])
        #expect(profile["name"]?["full"] == "Zebulon Quixotewood")
        #expect(profile["emails"]?[0]?["address"] == "zebulon.q@example.org")
        let timeline = try await client.result("customer.timeline", ["customer_id": "zq"])
        // The entries' subjects and names are read from their events' opened personal data.
        let summaries = (timeline["entries"]?.arrayValue ?? []).compactMap { $0["summary"]?.stringValue }
        for text in ["Call with Zebulon", "Quixotewood visit", "Quixotewood renewal", "Zebulon's printer"] {
            #expect(summaries.contains { $0.contains(text) }, "\(text) in \(summaries)")
        }
        let history = try await client.result("customer.history", ["customer_id": "zq"])
        #expect(history["events"]?[0]?["changes"]?["first_name"]?["to"] == "Zebulon")
        let deal = try await client.result("deal.get", ["deal_id": "d1"])
        #expect(deal["name"] == "Quixotewood renewal")

        // An admin reads the personal data opened; exactly as stored, it is an envelope.
        let opened = try await client.result("events.read", ["stream": "customer-zq", "limit": 1])
        #expect(opened["events"]?[0]?["pii"]?["first_name"] == "Zebulon")
        let stored = try await client.result("events.read", ["stream": "customer-zq", "limit": 1, "upcast": false])
        let envelope = try #require(stored["events"]?[0]?["pii"])
        #expect(envelope["alg"] == "A256GCM")
        #expect(envelope["kid"] == "c:zq")
        #expect(envelope["fields"]?.arrayValue?.contains("first_name") == true)
        let shared = try await client.result("events.read", ["stream": "activity-a2", "upcast": false])
        #expect(shared["events"]?[0]?["pii"]?["kid"] == "a:a2", "an activity of two customers has its own key")
        let verified = try await client.result("audit.verify")
        #expect(verified["ok"] == true)
        let backup = try #require(try await client.result("system.backup", ["name": "grep"])["path"]?.stringValue)
        #expect(daemon.stop() == 0)

        // Nowhere in the main environment — log, read models, decision state, indexes, free pages — nor
        // in a hot backup of it is a personal value in plain text.
        #expect(try Self.secretsFound(inFile: data + "/data.mdb") == [])
        #expect(try Self.secretsFound(inFile: backup + "/data.mdb") == [])

        // No record of the log holds a personal value in plain text.
        for record in try Self.records(data) {
            let text = String(decoding: record, as: UTF8.self)
            for secret in Self.secrets { #expect(!text.contains(secret), "a record holds \(secret)") }
        }
        // The key-encryption key sits outside the data directory, readable by its owner only.
        let kek = data + "-keys/kek-1.key"
        let mode = try #require(FileManager.default.attributesOfItem(atPath: kek)[.posixPermissions] as? Int)
        #expect(mode == 0o400)
        #expect(try Data(contentsOf: URL(fileURLWithPath: kek)).count == 32)
        #expect(FileManager.default.fileExists(atPath: data + "/keys/data.mdb"))

        // Folded again from the log (every read model rebuilt), the answers are the same.
        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        _ = try await client.result("projection.rebuild", ["name": "all"])
        _ = try await ProjectionLifecycleTests.waitUntilSettled(client)
        #expect(try await client.result("customer.get", ["customer_id": "zq"]) == profile)
        #expect(try await client.result("customer.timeline", ["customer_id": "zq"]) == timeline)
        #expect(try await client.result("deal.get", ["deal_id": "d1"]) == deal)
        #expect(try await client.result("audit.verify", ["read_models": true])["read_models"]?["ok"] == true)
        #expect(daemon.stop() == 0)
    }

    @Test func readersWithoutTheAdminRoleSeeOnlyWhichFieldsAreEncrypted() async throws {
        let me = getuid()
        let daemon = try await TestDaemon(access: AccessPolicy(rules: [.init(uid: me, roles: [.write, .audit, .read])]))
        let client = try daemon.client()
        _ = try await client.result("customer.create", ["customer_id": "zq", "first_name": "Zebulon"])
        _ = try await client.result("customer.update", ["customer_id": "zq", "set": ["tier": "gold", "last_name": "Q"]])
        let history = try await client.result("customer.history", ["customer_id": "zq"])
        #expect(history["events"]?[0]?["changes"]?["first_name"] == nil, "no personal field for an auditor")
        #expect(history["events"]?[1]?["changes"] == ["tier": ["from": nil, "to": "gold"]])
        let page = try await client.result("events.read", ["stream": "customer-zq"])
        let fields: JSON = ["address", "company_name", "custom", "emails", "first_name", "job_title", "last_name", "phones"]
        #expect(page["events"]?[0]?["pii"] == ["$pii": "encrypted", "fields": fields, "kid": "c:zq"])
        #expect(page["events"]?[0]?["data"]?["customer_id"] == "zq")
        try await daemon.stop()
    }

    @Test func aMissingOrWrongKeyEncryptionKeyIsRefusedAtStartAndNothingIsWritten() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        let client = try RPCClient(socketPath: socket)
        _ = try await client.result("customer.create", ["customer_id": "zq", "first_name": "Zebulon"])
        let head = try await client.result("system.stats")["head"]
        #expect(daemon.stop() == 0)

        let kek = data + "-keys/kek-1.key"
        let moved = directory.appending("kek-1.key.saved")
        try FileManager.default.moveItem(atPath: kek, toPath: moved)
        let missing = #expect(throws: DaemonProcessError.self) {
            try DaemonProcess(socketPath: socket, dataDirectory: data)
        }
        #expect(missing?.message.contains("the key-encryption key \(kek) is missing") == true, "\(missing?.message ?? "")")
        #expect(!FileManager.default.fileExists(atPath: kek), "no new key was made over the lost one")

        try Data((0..<32).map { UInt8($0) }).write(to: URL(fileURLWithPath: kek))
        let wrong = #expect(throws: DaemonProcessError.self) {
            try DaemonProcess(socketPath: socket, dataDirectory: data)
        }
        #expect(wrong?.message.contains("does not open the keys of this data directory") == true, "\(wrong?.message ?? "")")

        // With its key back, the log is as it was and its personal data reads.
        try FileManager.default.removeItem(atPath: kek)
        try FileManager.default.moveItem(atPath: moved, toPath: kek)
        let again = try DaemonProcess(socketPath: socket, dataDirectory: data)
        let againClient = try RPCClient(socketPath: socket)
        #expect(try await againClient.result("system.stats")["head"] == head)
        #expect(try await againClient.result("customer.get", ["customer_id": "zq"])["name"]?["first"] == "Zebulon")
        #expect(again.stop() == 0)
    }

    @Test func rotatingTheKeyEncryptionKeyKeepsTheDataReadableAndRetiresOldCopies() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        var daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        var client = try RPCClient(socketPath: socket)
        _ = try await client.result("customer.create", ["customer_id": "zq", "first_name": "Zebulon"])
        let profile = try await client.result("customer.get", ["customer_id": "zq"])
        #expect(daemon.stop() == 0)
        let stale = directory.appending("stale-keys")
        try FileManager.default.copyItem(atPath: data + "/keys", toPath: stale)

        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        let rotation = try await client.result("keys.rotate")
        #expect(rotation["kek_epoch_from"] == 1)
        #expect(rotation["kek_epoch_to"] == 2)
        #expect((rotation["keys"]?.intValue ?? 0) >= 1)
        #expect(rotation["kek_file"] == .string(data + "-keys/kek-2.key"))
        let backup = try #require(rotation["key_store_backup"]?.stringValue)
        #expect(backup == data + "-backups/keys-2")
        let backupMode = try #require(
            FileManager.default.attributesOfItem(atPath: backup + "/data.mdb")[.posixPermissions] as? Int
        )
        #expect(backupMode == 0o600)
        #expect(!FileManager.default.fileExists(atPath: data + "-keys/kek-1.key"))
        let mode = try #require(
            FileManager.default.attributesOfItem(atPath: data + "-keys/kek-2.key")[.posixPermissions] as? Int
        )
        #expect(mode == 0o400)
        // Old and new subjects read and write as before.
        _ = try await client.result("customer.create", ["customer_id": "bo", "first_name": "Bo"])
        let opened = try await client.result("events.read", ["stream": "customer-zq"])
        #expect(opened["events"]?[0]?["pii"]?["first_name"] == "Zebulon")
        #expect(try await client.result("customer.get", ["customer_id": "zq"]) == profile)
        #expect(daemon.stop() == 0)

        // After a restart, with only the new key file.
        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        #expect(try await client.result("events.read", ["stream": "customer-bo"])["events"]?[0]?["pii"]?["first_name"] == "Bo")
        _ = try await client.result("projection.rebuild", ["name": "customers"])
        _ = try await ProjectionLifecycleTests.waitUntilSettled(client)
        #expect(try await client.result("customer.get", ["customer_id": "zq"]) == profile)
        #expect(daemon.stop() == 0)

        // A copy of the key store from before the rotation no longer opens.
        try FileManager.default.removeItem(atPath: data + "/keys")
        try FileManager.default.copyItem(atPath: stale, toPath: data + "/keys")
        let refused = #expect(throws: DaemonProcessError.self) {
            try DaemonProcess(socketPath: socket, dataDirectory: data)
        }
        #expect(refused?.message.contains("kek-1.key is missing") == true, "\(refused?.message ?? "")")

        // The copy the rotation wrote restores the key store.
        try FileManager.default.removeItem(atPath: data + "/keys")
        try FileManager.default.copyItem(atPath: backup, toPath: data + "/keys")
        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        #expect(try await client.result("customer.get", ["customer_id": "zq"]) == profile)
        #expect(daemon.stop() == 0)
    }

    @Test func aPlainTextLogHasNoKeyToRotateOrBackUp() async throws {
        let daemon = try await TestDaemon { $0.encryptPersonalData = false }
        let refused = try await daemon.client().error("keys.rotate")
        #expect(refused.reason == "bad_request")
        #expect(refused.message.contains("no key to rotate"))
        #expect(try await daemon.client().error("keys.backup").message.contains("no key to back up"))
        try await daemon.stop()
    }

    @Test func theKeyStoreIsCopiedOnDemand() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.result("customer.create", ["customer_id": "zq", "first_name": "Zebulon"])
        let copy = try await client.result("keys.backup")
        #expect(copy["path"] == .string(daemon.directory.appending("backups/keys-1")))
        #expect(copy["kek_epoch"] == 1)
        #expect(FileManager.default.fileExists(atPath: daemon.directory.appending("backups/keys-1/data.mdb")))
        #expect(try await client.error("keys.backup", ["x": 1]).field == "x")
        try await daemon.stop()
    }

    @Test func aLogCreatedWithoutEncryptionKeepsPlainTextAndNeedsNoKeys() async throws {
        let directory = TemporaryDirectory()
        let config = directory.appending("crmd.json")
        try Data(#"{"encrypt_pii": false}"#.utf8).write(to: URL(fileURLWithPath: config))
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: data, extraArguments: ["--config", config])
        let client = try RPCClient(socketPath: socket)
        _ = try await client.result("customer.create", ["customer_id": "zq", "first_name": "Zebulon"])
        let stored = try await client.result("events.read", ["stream": "customer-zq", "upcast": false])
        #expect(stored["events"]?[0]?["pii"]?["first_name"] == "Zebulon")
        #expect(daemon.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: data + "/keys"))
        #expect(!FileManager.default.fileExists(atPath: data + "-keys/kek-1.key"))
    }
}
