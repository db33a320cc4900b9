import CRMApplication
import CRMRPC
import Foundation
import Logging

/// The daemon's settings: built-in defaults, then the JSON config file (`--config`), then `CRMD_*`
/// environment variables, then command-line flags, each overriding the one before (read by
/// ``read(flags:environment:file:declarations:)``).
///
/// Each property's initial value is its default. ``settings`` declares the keys that set them; the key
/// table of docs/OPERATIONS.md and `crmd serve --help` are made from it.
struct DaemonConfiguration: Equatable {
    var socketPath = "./var/crmd.sock"
    var socketMode: UInt32 = 0o660
    var dataDirectory = "./var/data"
    /// Empty until ``finalize()``, which makes it `<data_dir>-backups` unless it was configured.
    var backupDirectory = ""
    var maxLineBytes = 1_048_576
    var maxInFlightPerConnection = 64
    var maxUnsentReplyBytes = 4_194_304
    var maxBatchRequests = 1000
    var maxBatch = 1024
    var writerNice = 0
    var mapSizeMB = 1024
    var writeMap = false
    var startupRebuildLimit = 100_000
    var rebuildChunkEvents = 20_000
    var logLevel: Logger.Level = .info
    /// Path of the signing key; `nil` until ``finalize()`` derives the default from the data dir.
    var signingKey: String? = nil
    /// The KEK directory; `nil` until ``finalize()`` derives the default from the data dir.
    var kekDirectory: String? = nil
    var encryptPersonalData = true
    var checkpointEveryEvents = 1000
    var checkpointEverySeconds = 5
    /// Whether the SLA scheduler appends breach notifications.
    var slaBreachEvents = true
    /// Minutes before a deadline that `SlaBreachWarning` is due; 0: none.
    var slaBreachWarningMinutes = 15
    var access = AccessPolicy.open
    /// `HOST:PORT` of the HTTP metrics listener; empty: none.
    var metricsListen = ""
    var relayEnabled = false
    var relayURL = "nats://127.0.0.1:4222"
    var relayStream = "CRMD"
    var relaySubjectPrefix = "crmd.events"
    var relayReplicas = 1
    var relayMaxPending = 512
    /// `replica.of`: the primary's stream this crmd follows as a read replica; empty: a primary.
    var replicaOf = ""
    /// `replica.primary_socket`: named when a replica refuses a command; empty: not named.
    var primarySocket = ""

    /// The relay's settings, when it is on.
    var relay: RelayConfiguration? {
        guard self.relayEnabled else { return nil }
        var relay = RelayConfiguration(url: self.relayURL)
        relay.stream = self.relayStream
        relay.subjectPrefix = self.relaySubjectPrefix
        relay.replicas = self.relayReplicas
        relay.maxPending = self.relayMaxPending
        return relay
    }

    /// What a read replica follows, when this crmd is one.
    var replica: ReplicaConfiguration? {
        ReplicaConfiguration.parse(self.replicaOf, primarySocket: self.primarySocket.isEmpty ? nil : self.primarySocket)
    }

    /// Every key, in the order of the docs table. A key in a section is dotted (`relay.url`; in the file
    /// `{"relay": {"url": …}}`, in the environment `CRMD_RELAY_URL`).
    static let settings: [DaemonSetting] = [
        DaemonSetting(
            "socket_path", \.socketPath, .string, environment: "CRMD_SOCKET", flag: "--socket",
            "the Unix socket clients connect to (at most 107 bytes); crmctl reads `CRMD_SOCKET` too"
        ),
        DaemonSetting("socket_mode", \.socketMode, .fileMode, "permission bits of the socket file, an octal string"),
        DaemonSetting(
            "data_dir", \.dataDirectory, .string, flag: "--data-dir",
            "the LMDB environment (`data.mdb`) and crmd's lock file"
        ),
        DaemonSetting(
            "backup_dir", \.backupDirectory, .string, default: "`<data_dir>-backups`",
            "where `system.backup` writes its copies (0600 files in 0700 directories); clients name a "
                + "subdirectory only. Empty means the default"
        ),
        DaemonSetting(
            "max_line_bytes", \.maxLineBytes, .positive,
            "the longest request line; a longer one is answered with an error and the connection is closed"
        ),
        DaemonSetting(
            "max_in_flight_per_connection", \.maxInFlightPerConnection, .positive,
            "pipelined requests of one connection worked on at once; further lines wait unread"
        ),
        DaemonSetting(
            "max_unsent_reply_bytes", \.maxUnsentReplyBytes, .positive,
            "reply bytes of one connection that may wait unread; at this many crmd stops reading that "
                + "connection until its client reads (PROTOCOL.md §1)"
        ),
        DaemonSetting(
            "max_batch_requests", \.maxBatchRequests, .positive,
            "the most requests in one JSON-RPC batch array; a longer batch is refused whole with `bad_request`"
        ),
        DaemonSetting(
            "max_batch", \.maxBatch, .positive,
            "the most commands committed in one write transaction (group commit)"
        ),
        DaemonSetting(
            "writer_nice", \.writerNice, .integer(0...19, "an integer from 0 to 19"),
            "nice value (0–19) of the writer thread (see \"CPU between reads and writes\" above)"
        ),
        DaemonSetting(
            "map_size_mb", \.mapSizeMB, .positive,
            "initial LMDB map size in MiB; the map doubles by itself when full"
        ),
        DaemonSetting(
            "write_map", \.writeMap, .boolean,
            "LMDB writes pages through its memory map: a commit writes back only the pages it changed "
                + "(a third of the bytes or less), and the data file is allocated on disk up to the map size "
                + "(see \"Writing through the map\")"
        ),
        DaemonSetting(
            "startup_rebuild_limit", \.startupRebuildLimit, .nonNegative,
            "a projection rebuild needing at most this many events is finished before the socket opens; a "
                + "bigger one runs online (integer ≥ 0)"
        ),
        DaemonSetting(
            "rebuild_chunk_events", \.rebuildChunkEvents, .positive,
            "the most events one online rebuild chunk folds between command batches"
        ),
        DaemonSetting(
            "signing_key", \.signingKey, .optionalString, default: "`<data_dir>-keys/signing.key`",
            flag: "--signing-key",
            "the Ed25519 key that signs checkpoints of the log (see \"Data safety and tamper evidence\"); must "
                + "be outside the data directory; created on first start with `signing.key.pub` beside it; "
                + "`\"off\"` signs nothing"
        ),
        DaemonSetting(
            "kek_dir", \.kekDirectory, .optionalString, default: "`<data_dir>-keys`",
            "directory of the key-encryption key (`kek-<epoch>.key`, 0400) that wraps the data keys of personal "
                + "data (see \"Personal data\"); created on the first start of a new log; must be outside the "
                + "data directory and out of its backups; without it crmd refuses to start on an encrypted log"
        ),
        DaemonSetting(
            "encrypt_pii", \.encryptPersonalData, .boolean,
            "whether a new log stores every event's personal data encrypted; a log keeps the choice it was "
                + "created with"
        ),
        DaemonSetting(
            "checkpoint_every_events", \.checkpointEveryEvents, .positive,
            "a signed checkpoint once this many events are unsigned"
        ),
        DaemonSetting(
            "checkpoint_every_seconds", \.checkpointEverySeconds, .positive,
            "a signed checkpoint this long after the last one while events are unsigned (also while idle); "
                + "one more at shutdown"
        ),
        DaemonSetting(
            "log_level", \.logLevel, .logLevel, flag: "--log-level",
            "`trace`, `debug`, `info`, `notice`, `warning`, `error` or `critical`"
        ),
        DaemonSetting(
            "sla_breach_events", \.slaBreachEvents, .boolean,
            "append `SlaBreached` to a ticket's stream when an SLA deadline passes, once per breach, also for "
                + "breaches that fell due while crmd was down (see \"SLA breach notifications\")"
        ),
        DaemonSetting(
            "sla_breach_warning_minutes", \.slaBreachWarningMinutes, .integer(0...10_080, "an integer from 0 to 10080"),
            "minutes before a deadline that `SlaBreachWarning` is appended; 0: no warnings"
        ),
        DaemonSetting(
            "metrics_listen", \.metricsListen, .string,
            "empty: off; else `HOST:PORT` of an HTTP listener answering `GET /metrics` for Prometheus (see \"Metrics\"); a "
                + "loopback address only (`127.0.0.1`, `::1`, `localhost`), anything else is refused at start"
        ),
        DaemonSetting(
            "relay.enabled", \.relayEnabled, .boolean,
            "publish the log into NATS JetStream (see \"Beyond one machine\")"
        ),
        DaemonSetting(
            "relay.url", \.relayURL, .string,
            "the NATS server the relay publishes to; the servers of a cluster separated by commas"
        ),
        DaemonSetting(
            "relay.stream", \.relayStream, .streamName,
            "the JetStream stream the relay writes (created when missing; only the relay may write it)"
        ),
        DaemonSetting(
            "relay.subject_prefix", \.relaySubjectPrefix, .subjectPrefix,
            "events go to `<prefix>.<type>.<stream>`; the stream holds `<prefix>.>`"
        ),
        DaemonSetting(
            "relay.replicas", \.relayReplicas, .positive,
            "copies of each message when the relay creates the stream (3 on a 3-node cluster)"
        ),
        DaemonSetting(
            "relay.max_pending", \.relayMaxPending, .positive,
            "publishes awaiting their acknowledgement, at most"
        ),
        DaemonSetting(
            "replica.of", \.replicaOf, .string, flag: "--replica-of",
            "empty: a primary; else `NATS_URL/STREAM` of a primary's relay stream (e.g. `nats://10.0.0.5:4222/CRMD`): this crmd is a "
                + "read replica of it, building its log from the stream and refusing commands"
        ),
        DaemonSetting(
            "replica.primary_socket", \.primarySocket, .string,
            "the primary's socket, named when a replica refuses a command (`read_only_replica`)"
        ),
        DaemonSetting(
            "access", \.access, .accessRules,
            "roles by uid or gid, e.g. `[{\"uid\": 1000, \"roles\": [\"write\"]}, {\"gid\": 27, \"roles\": "
                + "[\"audit\"]}]` (see Roles above); empty: every peer is admin. In the environment, the JSON text"
        ),
    ]

    /// The `signing_key` value that turns signing off.
    static let signingOff = "off"

    /// Checks values that only make sense together and resolves relative paths against the working
    /// directory.
    mutating func finalize() throws {
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ path: String) -> String {
            let url =
                path.hasPrefix("/")
                ? URL(fileURLWithPath: path) : URL(fileURLWithPath: cwd).appendingPathComponent(path)
            return url.standardizedFileURL.path
        }
        self.socketPath = absolute(self.socketPath)
        self.dataDirectory = absolute(self.dataDirectory)
        self.backupDirectory = absolute(
            self.backupDirectory.isEmpty ? self.dataDirectory + "-backups" : self.backupDirectory
        )
        if self.signingKey != DaemonConfiguration.signingOff {
            self.signingKey = absolute(self.signingKey ?? self.dataDirectory + "-keys/signing.key")
        }
        self.kekDirectory = absolute(self.kekDirectory ?? self.dataDirectory + "-keys")
        if !self.replicaOf.isEmpty {
            guard self.replica != nil else {
                throw StartupError(
                    "replica.of \"\(self.replicaOf)\" is not NATS_URL/STREAM (e.g. nats://10.0.0.5:4222/CRMD)"
                )
            }
            guard !self.relayEnabled else {
                throw StartupError("a read replica cannot run the relay: turn relay.enabled off or drop replica.of")
            }
        }
        guard self.socketPath.utf8.count <= 107 else {
            throw StartupError("socket path \(self.socketPath) is longer than the 107 bytes Unix sockets allow")
        }
    }
}
