public import Crypto
import CRMProjections

/// Settings of the application core (the storage half of the daemon's configuration).
public struct CoreConfiguration: Sendable {
    /// Directory holding the LMDB environment and the lock file.
    public var dataDirectory: String
    /// Initial LMDB map size in bytes (grows automatically).
    public var mapSize: Int = 1 << 30
    /// Whether LMDB writes pages through its map (`Environment.Options.writeMap`): fewer bytes written
    /// per commit, and the data file allocated on disk up to the map size.
    public var writeMap: Bool = false
    /// Most commands committed in one write transaction.
    public var maxBatch: Int = 1024
    /// Nice value of the writer thread (0–19). Above 0, the threads that read requests and answer
    /// queries get the CPU first when every core is busy; the writer then gets less CPU while reads
    /// compete for it, and a steady read load can starve commands (docs/OPERATIONS.md has the runs).
    public var writerNice: Int = 0
    /// How far in the future a command's `at` may be, in milliseconds.
    public var maxFutureSkewMillis: Int64 = 5 * 60 * 1000
    /// Directory under which `system.backup` writes its copies; clients name only a subdirectory.
    public var backupDirectory: String? = nil
    /// Whether ``Seeds/onEmptyLog`` (the default sales pipeline) runs on the first start of an empty
    /// log. The daemon seeds; tests that count events from position 1 turn it off.
    public var seedDefaults: Bool = true
    /// Read models whose pending rebuild needs at most this many events are rebuilt before crmd
    /// serves (a fresh or small log never answers `projection_rebuilding`); bigger rebuilds run online.
    public var startupRebuildLimit: UInt64 = 100_000
    /// When set, rebuilds do not advance until ``CRMCore/releaseRebuilds()`` is called, not even at
    /// start-up: lets tests observe a projection while it rebuilds.
    public var holdRebuilds: Bool = false
    /// Most events one online rebuild chunk folds (a chunk also yields after 20 ms when commands
    /// are waiting, and after 1 s otherwise).
    public var rebuildChunkEvents: Int = 20_000
    /// About how many bytes of decision-state rows a refold at start-up keeps in memory before it
    /// writes them (they are written once per flush, not once per event).
    public var refoldBufferBytes: Int = 64 << 20
    /// Ed25519 key that signs checkpoints of the log's head (see ``Checkpoint``); `nil` signs
    /// nothing (in-process tests). The daemon loads it from `signing_key`.
    public var signingKey: Curve25519.Signing.PrivateKey? = nil
    /// A checkpoint is signed once this many events are unsigned...
    public var checkpointEveryEvents: UInt64 = 1000
    /// ...or this many seconds after the last one, when events are unsigned (also while idle, when the
    /// core's ``CRMCore/services`` run: the ``IdleSigner`` wakes the writer).
    public var checkpointEverySeconds: Int = 5
    /// Whether a new log stores its personal data encrypted (every event's `pii` sealed under its
    /// subject's data key). Applies when the log is created; a log keeps the choice it was made with.
    public var encryptPersonalData: Bool = true
    /// Where the key-encryption key lives (`kek-<epoch>.key`); `nil`: `<data_dir>-keys`, beside the
    /// data directory (with the signing key), never inside it.
    public var kekDirectory: String? = nil
    /// Where the relay publishes the log (NATS JetStream); `nil`: no relay.
    public var relay: RelayConfiguration? = nil
    /// The primary's stream this crmd follows as a read replica (commands refused); `nil`: a primary.
    public var replica: ReplicaConfiguration? = nil
    /// Read models folded in addition to the built-in ones (after them, in this order).
    public var additionalReadModels: [ProjectorFactory] = []
    /// Whether the core's ``CRMCore/services`` include the ``SlaScheduler``, which appends `SlaBreached`
    /// (and `SlaBreachWarning`) when an SLA deadline passes. The daemon turns it on; it is off here so
    /// that in-process cores and tests append only what their commands do.
    public var slaBreachEvents: Bool = false
    /// How many minutes before a deadline the scheduler appends `SlaBreachWarning`; 0: no warnings.
    public var slaBreachWarningMinutes: Int = 15
    /// The scheduler's clock, in Unix milliseconds: the wall clock, or a test's.
    public var slaClock: @Sendable () -> Int64 = { CRMCore.nowMillis() }

    public init(dataDirectory: String) { self.dataDirectory = dataDirectory }
}
