public import CRMDomain
public import CRMJSON

// The JSON forms of domain values inside event payloads: used by the event codec, and by the read models
// and the RPC edge that show the same shapes.

extension CustomerState.Email {
    /// The entry as it appears in events: `{address, primary, opted_out, invalid}`.
    public var eventJSON: JSON {
        [
            "address": .string(self.address), "primary": .bool(self.primary),
            "opted_out": .bool(self.optedOut), "invalid": .bool(self.invalid),
        ]
    }
}

extension CustomerState.Phone {
    /// The entry as it appears in events: `{number, normalized, type, primary}`.
    public var eventJSON: JSON {
        [
            "number": .string(self.number), "normalized": .string(self.normalized),
            "type": .string(self.type), "primary": .bool(self.primary),
        ]
    }
}

extension CustomerState.Email {
    /// The entry with its consent as well: `{address, primary, opted_out, invalid, consent}` (a merge
    /// records what each address carries over).
    public var recordJSON: JSON {
        [
            "address": .string(self.address), "primary": .bool(self.primary),
            "opted_out": .bool(self.optedOut), "invalid": .bool(self.invalid), "consent": .string(self.consent),
        ]
    }
}

extension CustomerState.Phone {
    /// The entry with its consent as well: `{number, normalized, type, primary, do_not_call, consent,
    /// sms_consent}`.
    public var recordJSON: JSON {
        [
            "number": .string(self.number), "normalized": .string(self.normalized),
            "type": .string(self.type), "primary": .bool(self.primary), "do_not_call": .bool(self.doNotCall),
            "consent": .string(self.consent), "sms_consent": .string(self.smsConsent),
        ]
    }
}

extension CustomerState.PostalAddress {
    /// The address as it appears in events: `{street, city, state, postal_code, country}`.
    public var json: JSON {
        [
            "street": .string(self.street), "city": .string(self.city), "state": .string(self.state),
            "postal_code": .string(self.postalCode), "country": .string(self.country),
        ]
    }

    /// Reads an address from its event form; `nil` for anything but an object.
    public init?(json: JSON) {
        guard case .object = json else { return nil }
        self.init(
            street: json["street"]?.stringValue,
            city: json["city"]?.stringValue,
            state: json["state"]?.stringValue,
            postalCode: json["postal_code"]?.stringValue,
            country: json["country"]?.stringValue
        )
    }
}

extension CustomerState {
    /// The emails in their event form.
    public var emailsJSON: JSON { .array(self.emails.map(\.eventJSON)) }

    /// The phones in their event form.
    public var phonesJSON: JSON { .array(self.phones.map(\.eventJSON)) }

    /// The address in its event form, or `null`.
    public var addressJSON: JSON { self.address?.json ?? .null }

    /// Reads an email list in event form (stored flags such as `consent` are read when present).
    public static func emails(fromEventJSON json: JSON) -> [Email] {
        (json.arrayValue ?? []).compactMap { entry in
            guard let address = entry["address"]?.stringValue else { return nil }
            return Email(
                address: address,
                primary: entry["primary"]?.boolValue ?? false,
                optedOut: entry["opted_out"]?.boolValue ?? false,
                invalid: entry["invalid"]?.boolValue ?? false,
                consent: entry["consent"]?.stringValue ?? Validation.consentNotSet
            )
        }
    }

    /// Reads a phone list in event form (stored flags such as `do_not_call` are read when present).
    public static func phones(fromEventJSON json: JSON) -> [Phone] {
        (json.arrayValue ?? []).compactMap { entry in
            guard let number = entry["number"]?.stringValue else { return nil }
            return Phone(
                number: number,
                normalized: entry["normalized"]?.stringValue ?? Validation.normalizedPhone(number) ?? number,
                type: entry["type"]?.stringValue,
                primary: entry["primary"]?.boolValue ?? false,
                doNotCall: entry["do_not_call"]?.boolValue ?? false,
                consent: entry["consent"]?.stringValue ?? Validation.consentNotSet,
                smsConsent: entry["sms_consent"]?.stringValue ?? Validation.consentNotSet
            )
        }
    }
}

extension CustomValue {
    /// The value of a JSON string, number or boolean; `nil` for anything else.
    public init?(json: JSON) {
        switch json {
        case .string(let text): self = .string(text)
        case .int(let number): self = .int(number)
        case .double(let number): self = .double(number)
        case .bool(let flag): self = .bool(flag)
        default: return nil
        }
    }

    /// The value as JSON.
    public var json: JSON {
        switch self {
        case .string(let text): .string(text)
        case .int(let number): .int(number)
        case .double(let number): .double(number)
        case .bool(let flag): .bool(flag)
        }
    }
}

extension PipelineDefinition.Stage {
    /// `{id, name, probability, kind}`.
    public var json: JSON {
        [
            "id": .string(self.id), "name": .string(self.name), "probability": .int(self.probability),
            "kind": .string(self.kind),
        ]
    }

    /// Reads the `json` form; `nil` when a member is missing.
    public init?(json: JSON) {
        guard let id = json["id"]?.stringValue, let kind = json["kind"]?.stringValue,
            let probability = json["probability"]?.intValue
        else { return nil }
        self.init(id: id, name: json["name"]?.stringValue ?? id, probability: Int(probability), kind: kind)
    }
}

extension PipelineDefinition {
    /// The `PipelineDefined` data form: `{pipeline_id, version, name, stages, require_lost_reason}`.
    public var json: JSON {
        [
            "pipeline_id": .string(self.id), "version": .int(self.version), "name": .string(self.name),
            "stages": .array(self.stages.map(\.json)), "require_lost_reason": .bool(self.requireLostReason),
        ]
    }

    /// Reads the `json` form; `nil` when it is malformed.
    public init?(json: JSON) {
        guard let id = json["pipeline_id"]?.stringValue, let stageList = json["stages"]?.arrayValue else { return nil }
        let stages = stageList.compactMap(Stage.init(json:))
        guard stages.count == stageList.count else { return nil }
        self.init(
            id: id,
            version: Int(json["version"]?.intValue ?? 1),
            name: json["name"]?.stringValue ?? id,
            stages: stages,
            requireLostReason: json["require_lost_reason"]?.boolValue ?? false
        )
    }
}

extension MoneyAmount {
    /// Reads an amount from a JSON string or number (`1200`, `99.5`, `"99.50"`); `nil` for anything
    /// else, including negative numbers.
    public init?(json: JSON) {
        switch json {
        case .string(let text): self.init(decimal: text)
        case .int(let value):
            guard value >= 0 else { return nil }
            self.init(decimal: String(value))
        case .double(let value):
            guard value.isFinite, value >= 0 else { return nil }
            // `description` is the shortest form that round-trips; large or tiny values use an
            // exponent, which is rejected below as not a plain decimal.
            self.init(
                decimal: value.description.hasSuffix(".0") ? String(value.description.dropLast(2)) : value.description
            )
        default: return nil
        }
    }

    /// The canonical string as JSON.
    public var json: JSON { .string(self.description) }
}

extension Actor {
    /// The actor as it appears in envelopes: `{"kind":"unix","uid":…,"gid":…,"on_behalf_of":…}`.
    public var json: JSON {
        var object: JSON = ["kind": "unix", "uid": .int(Int64(self.uid)), "gid": .int(Int64(self.gid))]
        if let onBehalfOf = self.onBehalfOf { object["on_behalf_of"] = .string(onBehalfOf) }
        return object
    }

    /// Appends the canonical serialization of ``json`` to `out` without building it (an event page
    /// writes one per event).
    public func write(into out: inout [UInt8]) {
        out.append(contentsOf: #"{"gid":"#.utf8)
        JSON.writeInt(Int64(self.gid), into: &out)
        out.append(contentsOf: #","kind":"unix""#.utf8)
        if let onBehalfOf = self.onBehalfOf {
            out.append(contentsOf: #","on_behalf_of":"#.utf8)
            JSON.writeString(onBehalfOf, into: &out)
        }
        out.append(contentsOf: #","uid":"#.utf8)
        JSON.writeInt(Int64(self.uid), into: &out)
        out.append(UInt8(ascii: "}"))
    }
}

extension ValueModelFitted {
    /// The model as its `ValueModelFitted` event holds it (`value.model.get` shows the same).
    public var eventJSON: JSON { OrderEventCodec.data(self) }
}

extension RfmRule {
    /// `{name, r: [lo, hi], f: [lo, hi], m: [lo, hi]}`.
    public var json: JSON {
        func range(_ range: ClosedRange<Int>) -> JSON { [.int(Int64(range.lowerBound)), .int(Int64(range.upperBound))] }
        return ["name": .string(self.name), "r": range(self.r), "f": range(self.f), "m": range(self.m)]
    }

    /// The rule of a stored `RfmSegmentMapDefined` (`m` defaults to 1–5).
    public init?(json: JSON) {
        func range(_ value: JSON?) -> ClosedRange<Int>? {
            guard let pair = value?.arrayValue, pair.count == 2, let low = pair[0].intValue,
                let high = pair[1].intValue, low <= high
            else { return nil }
            return Int(low)...Int(high)
        }
        guard let name = json["name"]?.stringValue, let r = range(json["r"]), let f = range(json["f"]) else {
            return nil
        }
        self.init(name: name, r: r, f: f, m: range(json["m"]) ?? 1...5)
    }
}
