import ArgumentParser
import CRMJSON

/// Turns command-line values into JSON params. Pure functions, so they are easy to test; every
/// failure is a `ValidationError` that ArgumentParser prints with the usage.
enum ParamParsing {
    /// `expected_version`: `any`, `no_stream` or a non-negative integer.
    static func expectedVersion(_ text: String) throws -> JSON {
        switch text {
        case "any", "no_stream": return .string(text)
        default:
            guard let version = Int64(text), version >= 0 else {
                throw ValidationError("--expected-version must be an integer, any or no_stream, got \"\(text)\"")
            }
            return .int(version)
        }
    }

    /// `--as-of` of the time-travel queries (`customer.get`, `funnel.report`, `sla.report`,
    /// `sla.ticket`): all digits is a log position (`17` → `17`); anything else is passed on as a
    /// string for crmd to read as an RFC 3339 time (it answers `invalid_field` `as_of` when it is none).
    /// Used as the `transform` of the `--as-of` options, so ArgumentParser names the option and the
    /// value in front of the message.
    static func asOf(_ text: String) throws -> JSON {
        guard !text.isEmpty else { throw ValidationError("expected a log position or an RFC 3339 time") }
        guard text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            return .string(text)
        }
        guard let position = Int64(text) else { throw ValidationError("the position is larger than \(Int64.max)") }
        return .int(position)
    }

    /// The `transform` of a `--limit` option: an integer from 1 to `maximum`, checked here so that the
    /// usage error names the option (`The value '5000' is invalid for '--limit <n>': …`).
    static func limit(_ maximum: Int) -> @Sendable (String) throws -> Int {
        { text in
            guard let value = Int(text), (1...maximum).contains(value) else {
                throw ValidationError("must be an integer between 1 and \(maximum)")
            }
            return value
        }
    }

    /// Splits `key=value` at the first `=`; the key must not be empty.
    static func keyValue(_ text: String, option: String) throws -> (key: String, value: String) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw ValidationError("\(option) expects key=value, got \"\(text)\"")
        }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }

    /// A custom field value: a JSON number, `true`, `false`, `null` or a quoted JSON string is taken
    /// as that JSON value; anything else is the text itself as a string.
    ///
    /// `plan=pro` → `"pro"`, `seats=5` → `5`, `trial=true` → `true`, `code="007"` → `"007"`.
    static func scalar(_ text: String) -> JSON {
        if let value = try? JSON.parse(text) {
            switch value {
            case .null, .bool, .int, .double, .string: return value
            case .array, .object, .serialized: break
            }
        }
        return .string(text)
    }

    /// `--custom key=value` options as a `custom` object (later keys win).
    static func custom(_ entries: [String]) throws -> [String: JSON] {
        var custom: [String: JSON] = [:]
        for entry in entries {
            let (key, value) = try ParamParsing.keyValue(entry, option: "--custom")
            custom[key] = ParamParsing.scalar(value)
        }
        return custom
    }

    /// `--email` options as an `emails` list; crmd makes the first one primary.
    static func emails(_ addresses: [String]) -> JSON {
        .array(addresses.map { ["address": .string($0)] })
    }

    /// `--phone` options as a `phones` list. A value `type=number` (`mobile=+44 7700 900123`) also
    /// sets the phone type; phone numbers never contain `=`.
    static func phones(_ numbers: [String]) -> JSON {
        .array(
            numbers.map { text in
                if let equals = text.firstIndex(of: "="), equals != text.startIndex {
                    return [
                        "number": .string(String(text[text.index(after: equals)...])),
                        "type": .string(String(text[..<equals])),
                    ]
                }
                return ["number": .string(text)]
            }
        )
    }

    /// `--consent channel:status[:address]` options as `consent` entries of `customer.create`.
    static func consent(_ entries: [String]) throws -> JSON {
        var result: [JSON] = []
        for entry in entries {
            let parts = entry.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("--consent expects channel:status[:address], got \"\(entry)\"")
            }
            var object: [String: JSON] = ["channel": .string(parts[0]), "status": .string(parts[1])]
            if parts.count == 3, !parts[2].isEmpty { object["address"] = .string(parts[2]) }
            result.append(.object(object))
        }
        return .array(result)
    }

    /// Params given as JSON text to `crmctl call`: an object, or empty/whitespace for none.
    static func callParams(_ text: String) throws -> JSON? {
        let trimmed = text.trimmingWhitespace
        guard !trimmed.isEmpty else { return nil }
        let value: JSON
        do {
            value = try JSON.parse(trimmed)
        } catch {
            throw ValidationError("params are not valid JSON: \(error)")
        }
        guard case .object = value else {
            throw ValidationError("params must be a JSON object, got \(value.typeName)")
        }
        return value
    }
}

extension ArgumentHelp {
    /// The help of `--as-of` on `funnel report` and `sla report`, whose discussion explains it.
    static var reportAsOf: ArgumentHelp {
        ArgumentHelp(
            "Report as of this log position or recorded RFC 3339 time (see below).",
            valueName: "position|time"
        )
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and line breaks.
    var trimmingWhitespace: String {
        let scalars = self.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
