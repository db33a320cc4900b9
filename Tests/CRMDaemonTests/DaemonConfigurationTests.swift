import CRMApplication
import CRMJSON
import CRMRPC
import CRMTesting
import Foundation
import Testing

@testable import CRMDaemon

/// The layering of crmd's settings (flags, `CRMD_*` variables, config file, defaults), the refusal of
/// unknown keys and bad values, and the docs that the key declarations must agree with.
@Suite struct DaemonConfigurationTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Writes `text` as a config file in `directory` and returns its path.
    func file(_ text: String, in directory: TemporaryDirectory) throws -> String {
        let path = directory.appending("crmd.json")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The message of the refusal of these sources.
    func refusal(
        flags: [String: String] = [:],
        environment: [String: String] = [:],
        file: String? = nil,
        declarations: [DaemonSetting] = DaemonConfiguration.settings
    ) -> String? {
        do {
            _ = try DaemonConfiguration.read(
                flags: flags, environment: environment, file: file, declarations: declarations
            )
            return nil
        } catch {
            return error.description
        }
    }

    @Test func flagsBeatVariablesWhichBeatTheFileWhichBeatsTheDefaults() throws {
        let directory = TemporaryDirectory()
        let path = try self.file(
            #"{"socket_path": "/file.sock", "max_batch": 10, "writer_nice": 3, "log_level": "debug"}"#,
            in: directory
        )
        let configuration = try DaemonConfiguration.read(
            flags: ["socket_path": "/flag.sock"],
            environment: [
                "CRMD_SOCKET": "/environment.sock", "CRMD_WRITER_NICE": "4", "CRMD_LOG_LEVEL": "", "HOME": "/root",
            ],
            file: path
        )
        #expect(configuration.socketPath == "/flag.sock")
        #expect(configuration.writerNice == 4)
        #expect(configuration.maxBatch == 10)
        // An empty variable counts as unset.
        #expect("\(configuration.logLevel)" == "debug")
        #expect(configuration.mapSizeMB == DaemonConfiguration().mapSizeMB)
    }

    @Test func everyKeyHasItsVariable() throws {
        let configuration = try DaemonConfiguration.read(
            flags: [:],
            environment: [
                "CRMD_MAX_BATCH": "7", "CRMD_ENCRYPT_PII": "false", "CRMD_SOCKET_MODE": "0600",
                "CRMD_KEK_DIR": "/keys", "CRMD_DATA_DIR": "/data", "CRMD_MAX_LINE_BYTES": "4096",
                "CRMD_ACCESS": #"[{"uid": 1000, "roles": ["write"]}]"#, "CRMD_STARTUP_REBUILD_LIMIT": "0",
            ],
            file: nil
        )
        #expect(configuration.maxBatch == 7)
        #expect(configuration.encryptPersonalData == false)
        #expect(configuration.socketMode == 0o600)
        #expect(configuration.kekDirectory == "/keys")
        #expect(configuration.dataDirectory == "/data")
        #expect(configuration.maxLineBytes == 4096)
        #expect(configuration.access != .open)
        #expect(configuration.startupRebuildLimit == 0)
        let names = DaemonConfiguration.settings.map(\.environmentName)
        #expect(Set(names).count == names.count)
        #expect(names.contains("CRMD_SOCKET") && names.contains("CRMD_MAX_BATCH"))
    }

    @Test(arguments: [
        ("CRMD_MAX_BATCH", "many", "environment variable CRMD_MAX_BATCH: max_batch must be a positive integer"),
        ("CRMD_MAX_BATCH", "0", "environment variable CRMD_MAX_BATCH: max_batch must be a positive integer"),
        ("CRMD_WRITER_NICE", "20", "writer_nice must be an integer from 0 to 19"),
        ("CRMD_SOCKET_MODE", "0999", "socket_mode must be an octal permission like \"0660\""),
        ("CRMD_LOG_LEVEL", "loud", "log_level must be one of trace, debug, info"),
        ("CRMD_ENCRYPT_PII", "maybe", "encrypt_pii must be true or false"),
        ("CRMD_ACCESS", #"[{"uid": 1}]"#, "environment variable CRMD_ACCESS: access[0].roles must be a non-empty"),
        ("CRMD_MAX_BATCHES", "5", "unknown environment variable CRMD_MAX_BATCHES (crmd's variables: CRMD_ACCESS,"),
        ("CRMD_SOCKET_PATH", "/x.sock", "unknown environment variable CRMD_SOCKET_PATH"),
    ])
    func aBadVariableIsRefusedByName(_ name: String, _ value: String, _ message: String) {
        let refusal = self.refusal(environment: [name: value])
        #expect(refusal?.contains(message) == true, "\(refusal ?? "accepted")")
    }

    @Test func variablesThatAreNoKeysButHaveOtherUsesAreLeftAlone() throws {
        let environment = Dictionary(uniqueKeysWithValues: DaemonConfiguration.otherVariables.map { ($0, "1") })
        _ = try DaemonConfiguration.read(flags: [:], environment: environment, file: nil)
    }

    @Test func aBadFlagIsRefusedNamingTheFlag() {
        #expect(self.refusal(flags: ["log_level": "loud"])?.hasPrefix("flag --log-level: log_level must be") == true)
    }

    @Test(arguments: [
        (#"{"encrypt_pii": 1}"#, "encrypt_pii must be true or false"),
        (#"{"socket_path": 5}"#, "socket_path must be a string"),
        (#"{"socket_mode": "rw"}"#, "socket_mode must be an octal permission"),
        (#"{"max_batch": 2.5}"#, "max_batch must be a positive integer"),
        (#"{"access": {"uid": 1}}"#, "access must be an array of rules"),
        (#"{"access": [{"uid": 1, "roles": ["boss"]}]}"#, "access[0].roles: \"boss\" is not one of"),
        (#"{"log_level": "loud"}"#, "log_level must be one of trace"),
        (#"[1]"#, "must hold a JSON object"),
        (#"{"max_batch": "#, "is not valid JSON"),
    ])
    func aBadFileValueIsRefusedNamingTheFileAndKey(_ text: String, _ message: String) throws {
        let directory = TemporaryDirectory()
        let path = try self.file(text, in: directory)
        let refusal = self.refusal(file: path)
        #expect(refusal?.hasPrefix("config file \(path)") == true, "\(refusal ?? "accepted")")
        #expect(refusal?.contains(message) == true, "\(refusal ?? "accepted")")
    }

    @Test func aNullInTheFileLeavesTheDefault() throws {
        let directory = TemporaryDirectory()
        let configuration = try DaemonConfiguration.read(
            flags: [:], environment: [:], file: try self.file(#"{"max_batch": null}"#, in: directory)
        )
        #expect(configuration.maxBatch == DaemonConfiguration().maxBatch)
    }

    /// Keys in sections (`relay.url`): nested objects in the file, `_` for the dots in the variable, and
    /// unknown keys refused at every depth.
    @Test func theRelayAndReplicaSectionsMakeTheirSettings() throws {
        let directory = TemporaryDirectory()
        let path = try self.file(
            #"{"relay": {"enabled": true, "url": "nats://a:4222,nats://b:4222", "replicas": 3, "stream": "EU"}}"#,
            in: directory
        )
        let settings = try DaemonConfiguration.read(flags: [:], environment: [:], file: path)
        let relay = try #require(settings.relay)
        #expect(relay.url == "nats://a:4222,nats://b:4222" && relay.replicas == 3 && relay.stream == "EU")
        #expect(relay.subjectPrefix == "crmd.events" && relay.maxPending == 512)
        #expect(try DaemonConfiguration.read(flags: [:], environment: [:], file: nil).relay == nil)

        var replica = try DaemonConfiguration.read(
            flags: ["replica.of": "nats://10.0.0.5:4222/CRMD"],
            environment: ["CRMD_REPLICA_PRIMARY_SOCKET": "/run/crmd/crmd.sock"], file: nil
        )
        try replica.finalize()
        #expect(replica.replica == ReplicaConfiguration(
            url: "nats://10.0.0.5:4222", stream: "CRMD", primarySocket: "/run/crmd/crmd.sock"
        ))
    }

    @Test func aReplicaOfThatIsNoStreamOrBesideTheRelayIsRefused() throws {
        var bad = try DaemonConfiguration.read(flags: ["replica.of": "nats://10.0.0.5:4222"], environment: [:], file: nil)
        #expect(throws: StartupError.self) { try bad.finalize() }
        var both = try DaemonConfiguration.read(
            flags: ["replica.of": "nats://10.0.0.5:4222/CRMD"], environment: ["CRMD_RELAY_ENABLED": "true"], file: nil
        )
        do {
            try both.finalize()
            Issue.record("a replica with the relay on was accepted")
        } catch {
            #expect("\(error)".contains("a read replica cannot run the relay"))
        }
        let badStream = self.refusal(environment: ["CRMD_RELAY_STREAM": "a.b"])
        #expect(badStream?.contains("relay.stream") == true, "\(badStream ?? "accepted")")
        let badPrefix = self.refusal(environment: ["CRMD_RELAY_SUBJECT_PREFIX": "crmd.>"])
        #expect(badPrefix?.contains("relay.subject_prefix") == true, "\(badPrefix ?? "accepted")")
    }

    @Test func keysInSectionsAreNestedObjectsInTheFile() throws {
        let declarations = DaemonConfiguration.settings + [
            DaemonSetting("outer.inner.limit", \.maxBatch, .positive, "a key two sections deep")
        ]
        #expect(declarations.last?.environmentName == "CRMD_OUTER_INNER_LIMIT")
        let directory = TemporaryDirectory()
        let path = try self.file(#"{"outer": {"inner": {"limit": 5}}, "writer_nice": 1}"#, in: directory)
        let fromFile = try DaemonConfiguration.read(
            flags: [:], environment: [:], file: path, declarations: declarations
        )
        #expect(fromFile.maxBatch == 5)
        let fromEnvironment = try DaemonConfiguration.read(
            flags: [:], environment: ["CRMD_OUTER_INNER_LIMIT": "6"], file: path, declarations: declarations
        )
        #expect(fromEnvironment.maxBatch == 6)

        let misspelt = try self.file(#"{"outer": {"inner": {"limt": 5}}}"#, in: directory)
        let refusal = self.refusal(file: misspelt, declarations: declarations)
        #expect(refusal?.contains(#"unknown key "outer.inner.limt" (known: "#) == true, "\(refusal ?? "accepted")")
        #expect(refusal?.contains("outer.inner.limit") == true)
        let scalar = try self.file(#"{"outer": 5}"#, in: directory)
        #expect(self.refusal(file: scalar, declarations: declarations)?.contains("outer must be an object") == true)
        let unknownSection = try self.file(#"{"no_such_section": {"url": "nats://127.0.0.1:4222"}}"#, in: directory)
        #expect(self.refusal(file: unknownSection)?.contains(#"unknown key "no_such_section""#) == true)
    }

    /// docs/OPERATIONS.md's key table is the one the declarations make. After adding or changing a key,
    /// paste the table this test prints, or run it with `CRMD_UPDATE_DOC_SAMPLES=1` to write it.
    @Test func theOperationsGuideListsEveryKeyAsDeclared() throws {
        let url = DaemonConfigurationTests.repository.appendingPathComponent("docs/OPERATIONS.md")
        let guide = try String(contentsOf: url, encoding: .utf8)
        var lines = guide.components(separatedBy: "\n")
        let section = try #require(lines.firstIndex(of: "## Configuration keys"))
        let start = try #require(lines[section...].firstIndex { $0.hasPrefix("| key |") })
        let table = Array(lines[start...].prefix { $0.hasPrefix("|") })
        let expected = DaemonConfiguration.documentationTable
        if ProcessInfo.processInfo.environment["CRMD_UPDATE_DOC_SAMPLES"] == "1", table != expected {
            lines.replaceSubrange(start..<(start + table.count), with: expected)
            try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
            return
        }
        #expect(table == expected, "docs/OPERATIONS.md should have this table:\n\(expected.joined(separator: "\n"))")
    }

    /// config/crmd.json sets keys to their defaults only (keys in sections as nested objects).
    @Test func theShippedConfigHoldsTheDefaults() throws {
        let data = try Data(contentsOf: DaemonConfigurationTests.repository.appendingPathComponent("config/crmd.json"))
        let settings = Dictionary(uniqueKeysWithValues: DaemonConfiguration.settings.map { ($0.key, $0) })
        var objects = [("", try #require(try JSON.parse(Array(data)).objectValue))]
        while let (prefix, members) = objects.popLast() {
            for (name, value) in members {
                if settings[prefix + name] == nil, let nested = value.objectValue {
                    objects.append((prefix + name + ".", nested))
                    continue
                }
                let setting = try #require(settings[prefix + name], "config/crmd.json has the unknown key \(name)")
                #expect(setting.defaultJSON == value, "config/crmd.json: \(prefix + name)")
            }
        }
    }

    @Test func finalizeMakesPathsAbsoluteAndDerivesTheKeyAndBackupPlaces() throws {
        var configuration = try DaemonConfiguration.read(flags: ["data_dir": "/srv/crm"], environment: [:], file: nil)
        try configuration.finalize()
        #expect(configuration.backupDirectory == "/srv/crm-backups")
        #expect(configuration.signingKey == "/srv/crm-keys/signing.key")
        #expect(configuration.kekDirectory == "/srv/crm-keys")
        #expect(configuration.socketPath.hasPrefix("/") && configuration.socketPath.hasSuffix("/var/crmd.sock"))
        var off = try DaemonConfiguration.read(flags: ["signing_key": "off"], environment: [:], file: nil)
        try off.finalize()
        #expect(off.signingKey == DaemonConfiguration.signingOff)
        var long = try DaemonConfiguration.read(
            flags: ["socket_path": "/" + String(repeating: "s", count: 120)], environment: [:], file: nil
        )
        #expect(throws: StartupError.self) { try long.finalize() }
    }
}
