import CRMDomain
import CRMEventStore
import CRMJSON
import CRMProjections
import Crypto
import LMDB
import Logging

/// The LMDB environment, shared between the writer thread and query tasks.
///
/// `Environment` is not `Sendable` because its write transactions belong to one thread. Here only the
/// writer thread writes; reads use `MDB_NOTLS` transactions guarded by the environment's resize lock,
/// which is safe from any thread.
struct SharedEnvironment: @unchecked Sendable {
    let environment: Environment
}

/// The opened data directory: its lock, the LMDB environment holding the log, the decision state,
/// the read models and the signed checkpoints, and what the start-up checks found. Opened once, on
/// the writer thread; every part of the core reads through it.
final class CoreStorage: Sendable {
    let configuration: CoreConfiguration
    private let shared: SharedEnvironment
    /// The LMDB environment of the data directory.
    var environment: Environment { self.shared.environment }
    /// The lock that keeps a second crmd out of the data directory.
    let lock: DataDirectoryLock
    let store: EventStore
    /// The data keys of the log's personal data; `nil` for a log that stores it in plain text.
    let keyStore: KeyStore?
    let runner: ProjectionRunner
    /// The signed checkpoints (written by the ``Checkpointer``, or imported).
    let checkpoints: CheckpointTable
    /// The public half of the signing key: the default key `audit.verify` checks against.
    let signingPublicKey: Curve25519.Signing.PublicKey?
    /// Why commands are refused for the life of this process, found at start-up: a broken hash chain
    /// at the end of the log, or an event the decision state cannot read. Queries are still answered.
    let appendBlock: Rejection?
    /// `value.model.fit`: one fit at a time, and its progress.
    let valueFitter = ValueModelFitter()
    /// How many records at the end of the log the start-up check rehashes.
    static let tailCheckRecords: UInt64 = 1024

    /// Opens (creating if needed) the data directory, takes its lock, checks the end of the log and
    /// its last signed checkpoint, and brings the decision state and the read models up to the head
    /// of the log (small rebuilds now, bigger ones later, online). Blocks: the writer thread runs it.
    init(configuration: CoreConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.lock = try DataDirectoryLock(directory: configuration.dataDirectory)
        var options = Environment.Options()
        options.mapSize = configuration.mapSize
        options.writeMap = configuration.writeMap
        // Each read model keeps two sets of tables (live and rebuild); leave room for more.
        options.maxDatabases = 256
        let environment = try DataFiles.openEnvironment(directory: configuration.dataDirectory, options: options)
        self.shared = SharedEnvironment(environment: environment)
        var store = try EventStore(environment: environment)
        self.keyStore = try CoreStorage.openKeyStore(configuration, environment, store, logger: logger)
        let cipher = try self.keyStore?.rowCipher()
        if let keyStore = self.keyStore {
            store.protection = keyStore.sealing(
                by: try environment.write { txn in try DecisionStateProjector(txn, cipher: cipher) }
            )
        }
        self.store = store
        let runner = try ProjectionRunner(
            environment: environment,
            store: store,
            readModels: ProjectorRegistry.readModels + configuration.additionalReadModels,
            cipher: cipher,
            chunkEvents: configuration.rebuildChunkEvents,
            refoldBufferBytes: configuration.refoldBufferBytes
        )
        self.runner = runner
        let checkpoints = try CheckpointTable(environment: environment)
        self.checkpoints = checkpoints
        self.signingPublicKey = configuration.signingKey?.publicKey
        let (tail, unmatched) = try environment.read { txn in
            (
                try store.verifyTail(records: CoreStorage.tailCheckRecords, txn),
                try CoreStorage.unmatchedLastCheckpoint(
                    checkpoints,
                    store,
                    ownKey: configuration.signingKey?.publicKey,
                    txn
                )
            )
        }
        let decisionStateStop = try runner.prepare(
            environment,
            logger: logger,
            syncLimit: configuration.holdRebuilds ? nil : configuration.startupRebuildLimit
        )
        let startupBlock = CoreStorage.appendBlock(
            tail: tail,
            unmatched: unmatched,
            decisionStateStop: decisionStateStop
        )
        // A replica appends only what it follows, through its own path; commands are the primary's.
        self.appendBlock = startupBlock ?? configuration.replica?.refusal
        if let block = startupBlock {
            logger.critical("crmd appends nothing to this log: \(block.message)")
        }
        runner.setHeld(configuration.holdRebuilds)
        if try self.finishErasures(of: nil, logger: logger) > 0 { self.rotateAfterErasure(logger: logger) }
    }

    /// Where the log records that its personal data is encrypted (`meta`).
    static let protectionKey = "pii_protection"
    /// What crmd says when it starts on a log whose personal data is not encrypted.
    static let plainTextWarning = "this log stores personal data in plain text (it was written before encryption "
        + "or with encrypt_pii off); docs/PRIVACY.md says what that leaves unprotected"
    /// The value of ``protectionKey``: the envelopes' algorithm.
    static let protectionValue = Array("A256GCM".utf8)

    /// The key store of a log whose personal data is encrypted: opened when the log says so, created
    /// with a new, empty log when the configuration asks for encryption. A log that already holds
    /// events in plain text stays so (a warning says how to move it to an encrypted one).
    private static func openKeyStore(
        _ configuration: CoreConfiguration,
        _ environment: Environment,
        _ store: EventStore,
        logger: Logger
    ) throws -> KeyStore? {
        let kekDirectory = configuration.kekDirectory ?? configuration.dataDirectory + "-keys"
        let (protected, empty) = try environment.read { txn in
            (try txn.get(store.meta, CoreStorage.protectionKey) != nil, try store.head(txn).seq == 0)
        }
        if protected {
            return try KeyStore(
                dataDirectory: configuration.dataDirectory, kekDirectory: kekDirectory, main: environment,
                create: false, logger: logger
            )
        }
        guard empty else {
            logger.warning(
                "\(CoreStorage.plainTextWarning)",
                metadata: ["data_dir": "\(configuration.dataDirectory)"]
            )
            return nil
        }
        // A replica holds the primary's events as stored (personal data as the primary's ciphertext)
        // and makes no keys of its own.
        guard configuration.encryptPersonalData, configuration.replica == nil else { return nil }
        let keyStore = try KeyStore(
            dataDirectory: configuration.dataDirectory, kekDirectory: kekDirectory, main: environment, create: true,
            logger: logger
        )
        try environment.write { txn in try txn.put(store.meta, CoreStorage.protectionKey, CoreStorage.protectionValue) }
        return keyStore
    }

    /// The last signed checkpoint when the log no longer matches it: the chain's hash at its position
    /// differs, or it claims `ownKey` and its signature does not verify. A rewritten history whose
    /// hashes were all recomputed passes the tail check but not this one.
    private static func unmatchedLastCheckpoint(
        _ checkpoints: CheckpointTable,
        _ store: EventStore,
        ownKey: Curve25519.Signing.PublicKey?,
        _ txn: Transaction
    ) throws -> Checkpoint? {
        guard let last = try checkpoints.last(txn) else { return nil }
        if let ownKey, last.publicKey == Array(ownKey.rawRepresentation), !last.isSigned(by: ownKey) { return last }
        return try store.recordHash(at: last.position, txn) == last.hash ? nil : last
    }

    /// Why nothing may be appended, given the start-up checks, or `nil` when all is well.
    private static func appendBlock(
        tail: EventStore.Verification,
        unmatched: Checkpoint?,
        decisionStateStop: EventRecordError?
    ) -> Rejection? {
        if let unmatched {
            return Rejection(
                .chainBroken,
                "the log does not match its last signed checkpoint at position \(unmatched.position) "
                    + "(found when crmd started): events up to it were changed or removed; crmd answers queries "
                    + "but appends nothing until the log is restored from a backup. audit.verify shows the details",
                details: [
                    "position": .int(Int64(unmatched.position)), "expected_hash": .string(hexString(unmatched.hash)),
                    "found_hash": .null,
                ]
            )
        }
        if let broken = tail.brokenAt {
            return Rejection(
                .chainBroken,
                "the hash chain of the log is broken at position \(broken) (found when crmd started); "
                    + "crmd answers queries but appends nothing until the log is restored from a backup. "
                    + "audit.verify shows the details",
                details: [
                    "position": .int(Int64(broken)),
                    "expected_hash": .string(tail.expectedHash.map(hexString)),
                    "found_hash": .string(tail.foundHash.map(hexString)),
                ]
            )
        }
        if let decisionStateStop {
            var rejection = CRMCore.rejection(failure: decisionStateStop, context: "decision state")
            rejection.message = "commands are refused: " + rejection.message
            return rejection
        }
        return nil
    }
}

/// A part of the core that reads the opened data directory.
protocol ReadsStorage {
    /// The opened data directory.
    var storage: CoreStorage { get }
}

extension ReadsStorage {
    /// The LMDB environment of the data directory.
    var environment: Environment { self.storage.environment }
    /// The event log.
    var store: EventStore { self.storage.store }
    /// The decision state and the read models.
    var runner: ProjectionRunner { self.storage.runner }
    /// The core's settings.
    var configuration: CoreConfiguration { self.storage.configuration }
}

// MARK: - Erasure

extension CoreStorage {
    /// Replaces the key-encryption key after erasures deleted keys, so that no copy of a deleted key
    /// — a free page of the key store, an older copy of it — can be unwrapped any more, and backs the
    /// key store up when a backup directory is configured. A failure is logged (`keys.rotate` does
    /// it by hand); the erasure itself is complete in the log and the key store.
    func rotateAfterErasure(logger: Logger) {
        guard let keyStore = self.keyStore else { return }
        do {
            _ = try keyStore.rotate(logger: logger)
            if let directory = self.configuration.backupDirectory {
                _ = try keyStore.backup(into: directory)
            }
        } catch {
            logger.error(
                "rotating the key-encryption key after an erasure failed; run keys.rotate",
                metadata: ["error": "\(error)"]
            )
        }
    }

    /// The erasures the key store records that the log lacks: it was restored from a hot backup taken
    /// before them, with the current key store (the record of erasures). Only customers the restored
    /// log knows and does not show erased count; the keys of the others are gone all the same.
    func erasuresMissingFromLog() throws -> [(customerID: String, erasure: CustomerErasure)] {
        guard let keyStore = self.keyStore else { return [] }
        let recorded = try keyStore.recordedErasures()
        guard !recorded.isEmpty else { return [] }
        return try self.environment.read { txn in
            let state = self.runner.state.state(txn)
            return try recorded.filter { customerID, _ in
                guard let customer = try state.customer(customerID, personal: false) else { return false }
                return customer.status != .erased
            }
        }
    }

    /// Finishes erasures whose keys the key store still holds — those of `customerIDs`, or every one
    /// the decision state records when `nil` (at start-up: a crash between an erasure's commit and
    /// its keys' deletion, or a key store restored from a copy older than the erasure). The log is
    /// the source of the erasure, the key store follows it. Returns how many keys it deleted.
    @discardableResult
    func finishErasures(of customerIDs: [String]?, logger: Logger) throws -> Int {
        guard let keyStore = self.keyStore else { return 0 }
        let erasures = try self.environment.read { txn -> [(String, CustomerErasure)] in
            let state = self.runner.state.state(txn)
            guard let customerIDs else {
                return try txn.withCursor(self.runner.state.tables[.erasures]) { cursor in
                    var found: [(String, CustomerErasure)] = []
                    var entry = try cursor.first()
                    while let current = entry {
                        let id = String(decoding: current.key, as: UTF8.self)
                        found.append((id, try CustomerErasure(decoding: current.valueBytes)))
                        entry = try cursor.next()
                    }
                    return found
                }
            }
            return try customerIDs.compactMap { id in try state.erasure(id).map { (id, $0) } }
        }
        var deleted = 0
        for (customerID, erasure) in erasures {
            let pending = try erasure.keyIDs.filter { kid in
                try keyStore.holdsKey(of: kid, main: self.environment) || keyStore.tombstone(kid) == nil
            }
            guard !pending.isEmpty else { continue }
            let numbers = try keyStore.shred(pending, customerID: customerID, erasure: erasure, main: self.environment)
            for number in numbers { self.runner.cipher?.forget(number) }
            deleted += numbers.count
            if customerIDs == nil {
                logger.notice(
                    "finished an erasure the key store had not caught up with",
                    metadata: [
                        "customer_id": "\(customerID)", "erased_seq": "\(erasure.seq)",
                        "keys_deleted": "\(numbers.count)",
                    ]
                )
            }
        }
        return deleted
    }
}
