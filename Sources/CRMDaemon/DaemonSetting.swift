import CRMJSON
import CRMRPC
import Configuration
import Logging

/// One configuration key of crmd: its dotted name, the `DaemonConfiguration` property it sets, how its
/// value is typed and checked, its environment variable, flag and documentation.
///
/// ``DaemonConfiguration/settings`` lists one per key. Reading
/// (``DaemonConfiguration/read(flags:environment:file:declarations:)``), the refusal of unknown keys and
/// variables, `crmd serve --help` and the key table of docs/OPERATIONS.md all come from that list, so a
/// new key is one more entry there (and its property).
struct DaemonSetting: Sendable {
    /// The key, dotted for keys in sections: `max_batch`, `relay.url` (`{"relay": {"url": …}}` in the file).
    let key: String
    /// The environment variable: `CRMD_` and the key in capitals, dots as `_`, unless declared otherwise.
    let environmentName: String
    /// The command-line flag of `crmd serve` that sets it, if any (documentation only: flags are declared
    /// with swift-argument-parser in `CRMDaemonCommand`).
    let flag: String?
    /// The default as written in the docs table: the JSON of the property's initial value, or a text for
    /// defaults that follow other keys (`<data_dir>-backups`).
    let defaultText: String
    /// The default as a JSON value, `nil` when it follows other keys; `config/crmd.json` must agree with it.
    let defaultJSON: JSON?
    /// What the docs table and `--help` say about the key (Markdown).
    let documentation: String
    /// The type it is looked up as in the providers.
    let type: ConfigType
    /// What a value must be, after "KEY must be" in messages.
    let expectation: String
    /// The value of the config file's JSON as the looked-up type, or `nil` when it has another type.
    let content: @Sendable (JSON) -> ConfigContent?
    /// Checks a looked-up value and stores it; throws the reason when the value is not acceptable.
    let apply: @Sendable (ConfigContent, inout DaemonConfiguration) throws(ValueRefused) -> Void

    /// Declares a key stored at `property`.
    ///
    /// - Parameters:
    ///   - key: The dotted key.
    ///   - property: The property of ``DaemonConfiguration`` it sets; its initial value is the default.
    ///   - kind: The type and check of the value.
    ///   - defaultText: The default for defaults that follow other keys; otherwise the property's initial
    ///     value is shown.
    ///   - environmentName: An environment variable other than `CRMD_<KEY>` (only for names crmd had before).
    ///   - flag: The flag of `crmd serve` that sets it.
    ///   - documentation: What the key does (Markdown, one line).
    init<Value>(
        _ key: String,
        _ property: any WritableKeyPath<DaemonConfiguration, Value> & Sendable,
        _ kind: SettingKind<Value>,
        default defaultText: String? = nil,
        environment environmentName: String? = nil,
        flag: String? = nil,
        _ documentation: String
    ) {
        self.key = key
        self.environmentName = environmentName ?? DaemonSetting.environmentName(forKey: key)
        self.flag = flag
        if let defaultText {
            self.defaultText = defaultText
            self.defaultJSON = nil
        } else {
            let json = kind.json(DaemonConfiguration()[keyPath: property])
            self.defaultText = "`\(json.serializedString())`"
            self.defaultJSON = json
        }
        self.documentation = documentation
        self.type = kind.type
        self.expectation = kind.expectation
        self.content = kind.content
        self.apply = { content, configuration throws(ValueRefused) in
            configuration[keyPath: property] = try kind.decode(content)
        }
    }

    /// `CRMD_` followed by `key` in capitals with every character that is not a letter or digit as `_`.
    static func environmentName(forKey key: String) -> String {
        "CRMD_" + String(key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }
}

/// A value the key's check refused; `reason` replaces the generic "KEY must be …" when given.
struct ValueRefused: Error {
    var reason: String?
}

/// How the values of one kind of key are typed in the providers, checked and turned into the property.
struct SettingKind<Value>: Sendable {
    /// The type the value is looked up as.
    let type: ConfigType
    /// The config file's JSON as that type, or `nil` for JSON of another type.
    let content: @Sendable (JSON) -> ConfigContent?
    /// The checked value; throws when the value is not acceptable.
    let decode: @Sendable (ConfigContent) throws(ValueRefused) -> Value
    /// A value as JSON (for the default in the docs).
    let json: @Sendable (Value) -> JSON
    /// What a value must be, after "KEY must be" in messages: "a positive integer".
    let expectation: String
}

extension SettingKind {
    /// A kind looked up as a string, turned into the property by `parse` (`nil`: not acceptable).
    static func text(
        _ expectation: String,
        parse: @escaping @Sendable (String) -> Value?,
        json: @escaping @Sendable (Value) -> JSON
    ) -> SettingKind {
        SettingKind(
            type: .string,
            content: { $0.stringValue.map(ConfigContent.string) },
            decode: { content throws(ValueRefused) in
                guard case .string(let text) = content, let value = parse(text) else { throw ValueRefused() }
                return value
            },
            json: json,
            expectation: expectation
        )
    }
}

extension SettingKind where Value == String {
    /// Any string, e.g. a path.
    static var string: SettingKind { .text("a string", parse: { $0 }, json: { .string($0) }) }
}

extension SettingKind where Value == String {
    /// A JetStream stream name: letters, digits, `_` and `-`.
    static var streamName: SettingKind {
        .text(
            "a stream name of letters, digits, _ and -",
            parse: { text in
                !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
                    ? text : nil
            },
            json: { .string($0) }
        )
    }

    /// NATS subject tokens separated by dots, without wildcards or white space.
    static var subjectPrefix: SettingKind {
        .text(
            "NATS subject tokens separated by dots (no *, > or spaces)",
            parse: { text in
                let tokens = text.split(separator: ".", omittingEmptySubsequences: false)
                let valid = tokens.allSatisfy { token in
                    !token.isEmpty && !token.contains { $0 == "*" || $0 == ">" || $0.isWhitespace }
                }
                return valid ? text : nil
            },
            json: { .string($0) }
        )
    }
}

extension SettingKind where Value == String? {
    /// A string whose absence lets the default follow other keys.
    static var optionalString: SettingKind { .text("a string", parse: { $0 }, json: { .string($0) }) }
}

extension SettingKind where Value == Int {
    /// An integer in `range`; the expectation names the range as today's messages did.
    static func integer(_ range: ClosedRange<Int>, _ expectation: String) -> SettingKind {
        SettingKind(
            type: .int,
            content: { $0.intValue.flatMap { Int(exactly: $0) }.map(ConfigContent.int) },
            decode: { content throws(ValueRefused) in
                guard case .int(let number) = content, range.contains(number) else { throw ValueRefused() }
                return number
            },
            json: { .int(Int64($0)) },
            expectation: expectation
        )
    }

    /// An integer ≥ 1.
    static var positive: SettingKind { .integer(1...Int.max, "a positive integer") }

    /// An integer ≥ 0.
    static var nonNegative: SettingKind { .integer(0...Int.max, "an integer ≥ 0") }
}

extension SettingKind where Value == Bool {
    /// `true` or `false` (in the environment also `1`, `0`, `yes`, `no`).
    static var boolean: SettingKind {
        SettingKind(
            type: .bool,
            content: { $0.boolValue.map(ConfigContent.bool) },
            decode: { content throws(ValueRefused) in
                guard case .bool(let flag) = content else { throw ValueRefused() }
                return flag
            },
            json: { .bool($0) },
            expectation: "true or false"
        )
    }
}

extension SettingKind where Value == UInt32 {
    /// Permission bits as an octal string ("0660").
    static var fileMode: SettingKind {
        SettingKind.text(
            "an octal permission like \"0660\"",
            parse: { text in UInt32(text, radix: 8).flatMap { $0 <= 0o777 ? $0 : nil } },
            json: { .string("0" + String($0, radix: 8)) }
        )
    }
}

extension SettingKind where Value == Logger.Level {
    /// A swift-log level by name, in any case.
    static var logLevel: SettingKind {
        SettingKind.text(
            "one of trace, debug, info, notice, warning, error, critical",
            parse: { Logger.Level(rawValue: $0.lowercased()) },
            json: { .string($0.rawValue) }
        )
    }
}

extension SettingKind where Value == AccessPolicy {
    /// Access rules: a JSON array in the file, its JSON text in the environment.
    static var accessRules: SettingKind {
        SettingKind(
            type: .string,
            content: { .string($0.serializedString()) },
            decode: { content throws(ValueRefused) in
                guard case .string(let text) = content, let json = try? JSON.parse(text) else {
                    throw ValueRefused()
                }
                do throws(AccessPolicyError) {
                    return try AccessPolicy(json: json)
                } catch {
                    throw ValueRefused(reason: error.description)
                }
            },
            json: { $0 == .open ? .array([]) : .null },
            expectation: "a JSON array of rules like [{\"uid\": 1000, \"roles\": [\"write\"]}]"
        )
    }
}
