import CRMApplication
import CRMJSON
import CRMRPC
import Foundation
import Logging

/// The daemon's settings: built-in defaults, then the JSON config file, then `CRMD_*` environment
/// variables, then command-line flags, each overriding the one before.
///
/// Keys of the config file (all optional):
///
/// | key | default | meaning |
/// |---|---|---|
/// | `socket_path` | `./var/crmd.sock` | Unix socket clients connect to |
/// | `socket_mode` | `"0660"` | permission bits of the socket file (octal string) |
/// | `data_dir` | `./var/data` | LMDB environment and lock file |
/// | `backup_dir` | `<data_dir>-backups` | where `system.backup` writes its copies (clients name a subdirectory only); beside the data directory, not in it (the systemd unit makes `/var/lib/crmd-backups` writable) |
/// | `max_line_bytes` | `1048576` | longest request line; longer lines get an error and the connection closes |
/// | `max_in_flight_per_connection` | `64` | pipelined requests of one connection worked on at once |
/// | `max_unsent_reply_bytes` | `4194304` | reply bytes of one connection that may wait unread; at it crmd stops reading that connection until its client reads |
/// | `max_batch_requests` | `1000` | most requests in one JSON-RPC batch array; a longer batch is refused whole (`bad_request`) |
/// | `max_batch` | `1024` | most commands committed in one transaction (group commit) |
/// | `writer_nice` | `0` | nice value (0–19) of the writer thread: above 0, reading requests and answering queries get the CPU first when every core is busy, at the cost of write throughput (see docs/OPERATIONS.md) |
/// | `map_size_mb` | `1024` | initial LMDB map size; grows automatically |
/// | `startup_rebuild_limit` | `100000` | a projection rebuild needing at most this many events is finished before the socket opens; bigger ones run online |
/// | `rebuild_chunk_events` | `20000` | most events one online rebuild chunk folds between command batches (a chunk also yields after 20 ms when commands wait, 1 s otherwise) |
/// | `signing_key` | `<data_dir>-keys/signing.key` | Ed25519 key that signs checkpoints of the log's head; created on first start with its public half beside it (`.pub`); must be outside the data directory; `"off"` signs nothing |
/// | `kek_dir` | `<data_dir>-keys` | directory of the key-encryption key (`kek-<epoch>.key`, 0400) that protects the data keys of personal data; created on the first start of a new log; must be outside the data directory and kept out of its backups |
/// | `encrypt_pii` | `true` | whether a new log stores personal data encrypted (a log keeps the choice it was created with) |
/// | `checkpoint_every_events` | `1000` | a signed checkpoint once this many events are unsigned... |
/// | `checkpoint_every_seconds` | `5` | ...or this many seconds after the last one while events are unsigned (also when idle), and at shutdown |
/// | `log_level` | `info` | trace, debug, info, notice, warning, error, critical |
/// | `access` | `[]` (every peer is admin) | roles by uid or gid: `[{"uid": 1000, "roles": ["write"]}, {"gid": 27, "roles": ["audit"]}]`; roles are read, audit, write, admin |
///
/// Environment variables: `CRMD_SOCKET`, `CRMD_SOCKET_MODE`, `CRMD_DATA_DIR`, `CRMD_MAX_LINE_BYTES`,
/// `CRMD_LOG_LEVEL`.
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
    /// Whether the SLA scheduler appends breach notifications (no config key yet).
    var slaBreachEvents = true
    /// Minutes before a deadline that `SlaBreachWarning` is due; 0: none (no config key yet).
    var slaBreachWarningMinutes = 15
    var access = AccessPolicy.open

    static let knownKeys: Set<String> = [
        "socket_path", "socket_mode", "data_dir", "backup_dir", "max_line_bytes", "max_in_flight_per_connection",
        "max_batch", "map_size_mb", "log_level", "access", "startup_rebuild_limit", "rebuild_chunk_events",
        "writer_nice", "signing_key", "checkpoint_every_events", "checkpoint_every_seconds", "max_unsent_reply_bytes",
        "max_batch_requests", "kek_dir", "encrypt_pii",
    ]

    /// Applies the members of a config file.
    mutating func apply(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StartupError("cannot read config file \(path)")
        }
        let json: JSON
        do {
            json = try JSON.parse(Array(data))
        } catch {
            throw StartupError("config file \(path) is not valid JSON: \(error)")
        }
        guard case .object(let members) = json else { throw StartupError("config file \(path) must hold a JSON object") }
        for key in members.keys.sorted() where !DaemonConfiguration.knownKeys.contains(key) {
            throw StartupError(
                "config file \(path): unknown key \"\(key)\" (known: \(DaemonConfiguration.knownKeys.sorted().joined(separator: ", ")))"
            )
        }
        func string(_ key: String) throws -> String? {
            guard let value = members[key] else { return nil }
            guard case .string(let text) = value else { throw StartupError("config file \(path): \(key) must be a string") }
            return text
        }
        func int(_ key: String) throws -> Int? {
            guard let value = members[key] else { return nil }
            guard let number = value.intValue, number > 0 else {
                throw StartupError("config file \(path): \(key) must be a positive integer")
            }
            return Int(number)
        }
        if let value = try string("socket_path") { self.socketPath = value }
        if let value = try string("socket_mode") { self.socketMode = try DaemonConfiguration.parseMode(value) }
        if let value = try string("data_dir") { self.dataDirectory = value }
        if let value = try string("backup_dir") { self.backupDirectory = value }
        if let value = try int("max_line_bytes") { self.maxLineBytes = value }
        if let value = try int("max_in_flight_per_connection") { self.maxInFlightPerConnection = value }
        if let value = try int("max_unsent_reply_bytes") { self.maxUnsentReplyBytes = value }
        if let value = try int("max_batch_requests") { self.maxBatchRequests = value }
        if let value = try int("max_batch") { self.maxBatch = value }
        if let value = try int("map_size_mb") { self.mapSizeMB = value }
        if let value = members["startup_rebuild_limit"] {
            guard let number = value.intValue, number >= 0 else {
                throw StartupError("config file \(path): startup_rebuild_limit must be an integer ≥ 0")
            }
            self.startupRebuildLimit = Int(number)
        }
        if let value = try int("rebuild_chunk_events") { self.rebuildChunkEvents = value }
        if let value = try string("signing_key") { self.signingKey = value }
        if let value = try string("kek_dir") { self.kekDirectory = value }
        if let value = members["encrypt_pii"] {
            guard case .bool(let flag) = value else {
                throw StartupError("config file \(path): encrypt_pii must be true or false")
            }
            self.encryptPersonalData = flag
        }
        if let value = try int("checkpoint_every_events") { self.checkpointEveryEvents = value }
        if let value = try int("checkpoint_every_seconds") { self.checkpointEverySeconds = value }
        if let value = members["writer_nice"] {
            guard let number = value.intValue, (0...19).contains(number) else {
                throw StartupError("config file \(path): writer_nice must be an integer from 0 to 19")
            }
            self.writerNice = Int(number)
        }
        if let value = try string("log_level") { self.logLevel = try DaemonConfiguration.parseLevel(value) }
        if let value = members["access"] {
            do {
                self.access = try AccessPolicy(json: value)
            } catch {
                throw StartupError("config file \(path): \(error.description)")
            }
        }
    }

    /// Applies `CRMD_*` environment variables.
    mutating func apply(environment: [String: String]) throws {
        if let value = environment["CRMD_SOCKET"], !value.isEmpty { self.socketPath = value }
        if let value = environment["CRMD_SOCKET_MODE"], !value.isEmpty {
            self.socketMode = try DaemonConfiguration.parseMode(value)
        }
        if let value = environment["CRMD_DATA_DIR"], !value.isEmpty { self.dataDirectory = value }
        if let value = environment["CRMD_MAX_LINE_BYTES"], !value.isEmpty {
            guard let bytes = Int(value), bytes > 0 else {
                throw StartupError("CRMD_MAX_LINE_BYTES must be a positive integer")
            }
            self.maxLineBytes = bytes
        }
        if let value = environment["CRMD_LOG_LEVEL"], !value.isEmpty {
            self.logLevel = try DaemonConfiguration.parseLevel(value)
        }
    }

    /// The `signing_key` value that turns signing off.
    static let signingOff = "off"

    static func parseMode(_ text: String) throws -> UInt32 {
        guard let mode = UInt32(text, radix: 8), mode <= 0o777 else {
            throw StartupError("socket mode \"\(text)\" is not an octal permission like 0660")
        }
        return mode
    }

    static func parseLevel(_ text: String) throws -> Logger.Level {
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw StartupError(
                "log level \"\(text)\" is not one of trace, debug, info, notice, warning, error, critical"
            )
        }
        return level
    }

    /// Checks values that only make sense together and resolves relative paths against the working
    /// directory.
    mutating func finalize() throws {
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ path: String) -> String {
            let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: cwd).appendingPathComponent(path)
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
        guard self.socketPath.utf8.count <= 107 else {
            throw StartupError("socket path \(self.socketPath) is longer than the 107 bytes Unix sockets allow")
        }
    }
}
