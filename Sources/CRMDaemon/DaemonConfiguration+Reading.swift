import CRMApplication
import CRMJSON
import Configuration
import Foundation
import Synchronization

extension DaemonConfiguration {
    /// Variables starting with `CRMD_` that are not settings: crmd's crash-point hook and the test suite's
    /// switches, which the daemons that tests start inherit. Any other `CRMD_*` variable that names no
    /// key is refused, so that a misspelt one does not go unnoticed.
    static let otherVariables: Set<String> = [
        "CRMD_TEST_CRASH_AT", "CRMD_TEST_LOG", "CRMD_UPDATE_DOC_SAMPLES", "CRMD_LIFETIMES_PYTHON",
        "CRMD_LIFETIMES_SKIP",
    ]

    /// Reads the settings through a swift-configuration `ConfigReader` over, in priority order, the
    /// flags given (`key: value` text), the `CRMD_*` variables of `environment` (empty ones count as unset)
    /// and the config file at `file`; a key none of them sets keeps its default.
    ///
    /// Unknown keys in the file (at any depth) and unknown `CRMD_*` variables are refused, as is a value
    /// of the wrong type or out of range, naming where it came from. `declarations` are the keys
    /// (``settings``; tests pass others).
    static func read(
        flags: [String: String],
        environment: [String: String],
        file: String?,
        declarations: [DaemonSetting] = DaemonConfiguration.settings
    ) throws(StartupError) -> DaemonConfiguration {
        let settings = Dictionary(uniqueKeysWithValues: declarations.map { ($0.key, $0) })
        let variables = environment.filter { $0.key.hasPrefix("CRMD_") && !$0.value.isEmpty }
        let variableNames = Set(declarations.map(\.environmentName))
        for name in variables.keys.sorted()
        where !variableNames.contains(name) && !DaemonConfiguration.otherVariables.contains(name) {
            throw StartupError(
                "unknown environment variable \(name) (crmd's variables: "
                    + "\(variableNames.sorted().joined(separator: ", ")))"
            )
        }

        let flagProvider = InMemoryProvider(
            name: "flags",
            values: try DaemonConfiguration.flagValues(flags, settings: settings)
        )
        let names = settings.mapValues(\.environmentName)
        let environmentProvider = KeyMappingProvider(
            upstream: EnvironmentVariablesProvider(environmentVariables: variables),
            keyMapper: { key in
                let dotted = key.components.joined(separator: ".")
                return AbsoluteConfigKey([names[dotted] ?? DaemonSetting.environmentName(forKey: dotted)])
            }
        )
        var fileValues: [AbsoluteConfigKey: ConfigValue] = [:]
        if let file { fileValues = try DaemonConfiguration.fileValues(file, settings: settings) }
        let fileProvider = InMemoryProvider(name: "config file", values: fileValues)
        let recorder = LookupRecorder()
        let reader = ConfigReader(
            providers: [flagProvider, environmentProvider, fileProvider],
            accessReporter: recorder
        )

        var configuration = DaemonConfiguration()
        for setting in declarations {
            let content = DaemonConfiguration.lookUp(setting, in: reader)
            let results = recorder.last?.providerResults ?? []
            // The first provider that had the key answered (the reader stops there): with its value or
            // with the error of a value it could not turn into the key's type.
            let answer = results.first { result in
                if case .success(let lookup) = result.result { return lookup.value != nil }
                return true
            }
            func source() -> String {
                switch answer?.providerName {
                case flagProvider.providerName: return "flag \(setting.flag ?? setting.key)"
                case environmentProvider.providerName: return "environment variable \(setting.environmentName)"
                default: return "config file \(file ?? "")"
                }
            }
            if case .failure = answer?.result {
                throw StartupError("\(source()): \(setting.key) must be \(setting.expectation)")
            }
            guard let content else { continue }
            do throws(ValueRefused) {
                try setting.apply(content, &configuration)
            } catch {
                throw StartupError("\(source()): \(error.reason ?? "\(setting.key) must be \(setting.expectation)")")
            }
        }
        return configuration
    }

    /// The flags as values of the keys' types.
    private static func flagValues(
        _ flags: [String: String],
        settings: [String: DaemonSetting]
    ) throws(StartupError) -> [AbsoluteConfigKey: ConfigValue] {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, text) in flags {
            guard let setting = settings[key] else { preconditionFailure("a flag sets the unknown key \(key)") }
            let content: ConfigContent? =
                switch setting.type {
                case .string: .string(text)
                case .int: Int(text).map(ConfigContent.int)
                case .double: Double(text).map(ConfigContent.double)
                case .bool: Bool(text).map(ConfigContent.bool)
                default: nil
                }
            guard let content else {
                throw StartupError("flag \(setting.flag ?? key): \(key) must be \(setting.expectation)")
            }
            values[AbsoluteConfigKey(ConfigKey(key))] = ConfigValue(content, isSecret: false)
        }
        return values
    }

    /// The keys of the config file at `path` with their values as the keys' types.
    ///
    /// crmd reads the file with its own JSON parser rather than swift-configuration's JSON provider: that
    /// provider cannot hold `access` (an array of objects) and does not tell which keys a file has, which
    /// the refusal of unknown keys needs. A `null` value counts as unset.
    private static func fileValues(
        _ path: String,
        settings: [String: DaemonSetting]
    ) throws(StartupError) -> [AbsoluteConfigKey: ConfigValue] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StartupError("cannot read config file \(path)")
        }
        let json: JSON
        do {
            json = try JSON.parse(Array(data))
        } catch {
            throw StartupError("config file \(path) is not valid JSON: \(error)")
        }
        guard case .object(let members) = json else {
            throw StartupError("config file \(path) must hold a JSON object")
        }
        // "relay" for "relay.url": the sections whose members the file nests in an object.
        let sections = Set(
            settings.keys.flatMap { key in
                let components = key.split(separator: ".")
                return (1..<max(components.count, 1)).map { components.prefix($0).joined(separator: ".") }
            }
        )
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        var objects: [(prefix: String, members: [String: JSON])] = [("", members)]
        while let object = objects.popLast() {
            for (name, value) in object.members.sorted(by: { $0.key < $1.key }) {
                let key = object.prefix + name
                if let setting = settings[key] {
                    guard !value.isNull else { continue }
                    guard let content = setting.content(value) else {
                        throw StartupError("config file \(path): \(key) must be \(setting.expectation)")
                    }
                    values[AbsoluteConfigKey(ConfigKey(key))] = ConfigValue(content, isSecret: false)
                } else if sections.contains(key) {
                    guard case .object(let nested) = value else {
                        throw StartupError("config file \(path): \(key) must be an object (a section of keys)")
                    }
                    objects.append((key + ".", nested))
                } else {
                    throw StartupError(
                        "config file \(path): unknown key \"\(key)\" (known: "
                            + "\(settings.keys.sorted().joined(separator: ", ")))"
                    )
                }
            }
        }
        return values
    }

    /// The value the reader finds for `setting`, `nil` when no provider has one (or the one that has it
    /// holds another type: the recorder then has the error).
    private static func lookUp(_ setting: DaemonSetting, in reader: ConfigReader) -> ConfigContent? {
        let key = ConfigKey(setting.key)
        switch setting.type {
        case .string: return reader.string(forKey: key).map(ConfigContent.string)
        case .int: return reader.int(forKey: key).map(ConfigContent.int)
        case .double: return reader.double(forKey: key).map(ConfigContent.double)
        case .bool: return reader.bool(forKey: key).map(ConfigContent.bool)
        case .stringArray: return reader.stringArray(forKey: key).map(ConfigContent.stringArray)
        default: preconditionFailure("no setting of crmd has the type \(setting.type)")
        }
    }
}

/// Keeps the event of the reader's last lookup, which says which provider answered and with what error.
private final class LookupRecorder: AccessReporter, Sendable {
    private let event = Mutex<AccessEvent?>(nil)

    /// The last lookup.
    var last: AccessEvent? { self.event.withLock { $0 } }

    func report(_ event: AccessEvent) {
        self.event.withLock { $0 = event }
    }
}

// MARK: - Documentation

extension DaemonConfiguration {
    /// The key table of docs/OPERATIONS.md ("Configuration keys"), one line per key after the header.
    static var documentationTable: [String] {
        ["| key | default | variable, flag | meaning |", "|---|---|---|---|"]
            + DaemonConfiguration.settings.map { setting in
                let names = ["`\(setting.environmentName)`"] + (setting.flag.map { ["flag `\($0)`"] } ?? [])
                return "| `\(setting.key)` | \(setting.defaultText) | \(names.joined(separator: ", ")) "
                    + "| \(setting.documentation) |"
            }
    }

    /// Every key for `crmd serve --help`: name, variable, flag and default, then what it does.
    static var helpText: String {
        DaemonConfiguration.settings.map { setting in
            let names = [setting.environmentName] + (setting.flag.map { [$0] } ?? [])
            let line = "\(setting.key) (\(names.joined(separator: ", ")); default \(setting.defaultText)): "
                + setting.documentation
            return line.replacingOccurrences(of: "`", with: "")
        }
        .joined(separator: "\n\n")
    }
}
