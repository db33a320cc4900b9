public import CRMDomain
public import CRMJSON

/// A segment filter ⇄ its JSON form, `{"any":[{"all":[{"field","op","value"},…]},…]}` (a lone
/// `{"all":[…]}` is one group). Reading checks every field, operator and value against
/// ``SegmentFields`` and throws `invalid_filter` with `details.path` and `details.reason`
/// (`unknown_field`, `bad_operator`, `bad_value`, `personal_field`, `too_many`); the segments a
/// filter refers to are checked against state by `segment.define`.
public enum SegmentFilterJSON {
    /// The filter in `json`; `path` names it in errors (`filter`).
    public static func filter(_ json: JSON, path: String = "filter") throws(Rejection) -> SegmentFilter {
        guard case .object(let members) = json, members.count == 1 else {
            throw Self.error(path, "bad_value", "a filter is {\"any\":[{\"all\":[…]},…]} or {\"all\":[…]}")
        }
        if let all = members["all"] {
            return SegmentFilter(groups: [try Self.group(all, path: path + ".all")])
        }
        guard let any = members["any"], case .array(let groups) = any, !groups.isEmpty else {
            throw Self.error(path, "bad_value", "a filter is {\"any\":[{\"all\":[…]},…]} or {\"all\":[…]}")
        }
        guard groups.count <= SegmentFilter.maximumGroups else {
            throw Self.error(path + ".any", "too_many", "at most \(SegmentFilter.maximumGroups) groups")
        }
        var parsed: [[SegmentCondition]] = []
        for (index, group) in groups.enumerated() {
            let groupPath = "\(path).any[\(index)]"
            guard case .object(let members) = group, members.count == 1, let all = members["all"] else {
                throw Self.error(groupPath, "bad_value", "a group is {\"all\":[…]}")
            }
            parsed.append(try Self.group(all, path: groupPath + ".all"))
        }
        return SegmentFilter(groups: parsed)
    }

    private static func group(_ json: JSON, path: String) throws(Rejection) -> [SegmentCondition] {
        guard case .array(let conditions) = json, !conditions.isEmpty else {
            throw Self.error(path, "bad_value", "a group is a non-empty list of conditions")
        }
        guard conditions.count <= SegmentFilter.maximumConditions else {
            throw Self.error(path, "too_many", "at most \(SegmentFilter.maximumConditions) conditions in a group")
        }
        var parsed: [SegmentCondition] = []
        for (index, condition) in conditions.enumerated() {
            parsed.append(try Self.condition(condition, path: "\(path)[\(index)]"))
        }
        return parsed
    }

    private static func condition(_ json: JSON, path: String) throws(Rejection) -> SegmentCondition {
        guard case .object(let members) = json, let field = members["field"]?.stringValue,
            let op = members["op"]?.stringValue,
            Set(members.keys).isSubset(of: ["field", "op", "value"])
        else {
            throw Self.error(path, "bad_value", "a condition is {\"field\", \"op\", \"value\"}")
        }
        if SegmentFields.isPersonal(field) {
            throw Self.error(
                path + ".field", "personal_field", "\(field) is personal data: segments filter non-personal fields only"
            )
        }
        guard let kind = SegmentFields.kind(of: field) else {
            throw Self.error(path + ".field", "unknown_field", "unknown field \(field)")
        }
        let operators = SegmentFields.operators(kind)
        guard operators.contains(op) else {
            throw Self.error(
                path + ".op", "bad_operator", "\(field) takes \(operators.joined(separator: ", ")), not \(op)"
            )
        }
        let value = try Self.value(members["value"] ?? .null, kind: kind, op: op, path: path + ".value")
        return SegmentCondition(field: field, op: op, value: value)
    }

    private static func value(_ json: JSON, kind: SegmentFields.Kind, op: String, path: String) throws(Rejection)
        -> SegmentValue
    {
        func bad(_ expected: String) -> Rejection { Self.error(path, "bad_value", "expected \(expected)") }
        func strings(_ allowed: [String]?) throws(Rejection) -> [String] {
            guard case .array(let items) = json, !items.isEmpty, items.count <= 1000 else {
                throw bad("a non-empty list")
            }
            var values: [String] = []
            for item in items {
                guard let text = item.stringValue, allowed.map({ $0.contains(text) }) ?? !text.isEmpty else {
                    throw bad(allowed.map { "values among \($0.joined(separator: ", "))" } ?? "strings")
                }
                values.append(text)
            }
            return values
        }
        func string(_ allowed: [String]?) throws(Rejection) -> String {
            guard let text = json.stringValue, allowed.map({ $0.contains(text) }) ?? !text.isEmpty else {
                throw bad(allowed.map { "one of \($0.joined(separator: ", "))" } ?? "a string")
            }
            return text
        }
        func integer(_ range: ClosedRange<Int64>) throws(Rejection) -> Int64 {
            guard let number = json.intValue, range.contains(number) else {
                throw bad("an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        switch (kind, op) {
        case (_, "is_set"), (_, "is_not_set"):
            guard json.isNull else { throw bad("no value") }
            return .none
        case (.stage, "in"), (.stage, "not_in"): return .strings(try strings(Validation.lifecycleStages))
        case (.stage, _): return .string(try string(Validation.lifecycleStages))
        case (.text, "in"), (.text, "not_in"): return .strings(try strings(nil))
        case (.text, _), (.set, "has"): return .string(try string(nil))
        case (.set, _): return .strings(try strings(nil))
        case (.date, "before"), (.date, "after"):
            guard let text = json.stringValue, text.utf8.count == 10, Timestamp.parse(text + "T00:00:00Z") != nil
            else { throw bad("a date YYYY-MM-DD") }
            return .date(text)
        case (.date, _): return .int(try integer(0...36_500))
        case (.choice(let allowed), _): return .strings(try strings(allowed))
        case (.names, _): return .strings(try strings(nil))
        case (.count, _): return .int(try integer(0...Int64(Int32.max)))
        case (.score(let range), _): return .int(try integer(Int64(range.lowerBound)...Int64(range.upperBound)))
        case (.money, _):
            guard let amount = MoneyAmount(json: json) else { throw bad("a decimal amount ≥ 0") }
            return .money(amount)
        case (.bool, _):
            guard case .bool(let flag) = json else { throw bad("true or false") }
            return .bool(flag)
        case (.membership, _):
            guard let id = json.stringValue, Identifier.isValid(id) else { throw bad("an id") }
            return .string(id)
        }
    }

    static func error(_ path: String, _ reason: String, _ message: String) -> Rejection {
        Rejection(
            .invalidFilter, field: "filter", "\(path): \(message)",
            details: ["path": .string(path), "reason": .string(reason)]
        )
    }

    /// The canonical JSON form: always `{"any":[{"all":[…]}]}`, conditions as given.
    public static func json(_ filter: SegmentFilter) -> JSON {
        .object([
            "any": .array(
                filter.groups.map { group in
                    .object(["all": .array(group.map(Self.json))])
                }
            )
        ])
    }

    private static func json(_ condition: SegmentCondition) -> JSON {
        var object: [String: JSON] = ["field": .string(condition.field), "op": .string(condition.op)]
        switch condition.value {
        case .none: break
        case .string(let text), .date(let text): object["value"] = .string(text)
        case .strings(let texts): object["value"] = .strings(texts)
        case .int(let number): object["value"] = .int(number)
        case .money(let amount): object["value"] = .string(amount.description)
        case .bool(let flag): object["value"] = .bool(flag)
        }
        return .object(object)
    }
}

/// ``MarketingEvent`` ⇄ payloads (no personal data).
enum MarketingEventCodec {
    static func encode(_ event: MarketingEvent) -> (data: JSON, pii: JSON) {
        switch event {
        case .segmentDefined(let defined):
            let segment = defined.segment
            let data: JSON = [
                "segment_id": .string(segment.segmentID), "version": .int(segment.version),
                "name": .string(segment.name), "description": .string(segment.description),
                "filter": SegmentFilterJSON.json(segment.filter),
            ]
            return (data, .null)
        case .segmentRetired(let retired):
            return (["segment_id": .string(retired.segmentID), "version": .int(retired.version)], .null)
        case .listCreated(let created):
            let source: JSON =
                created.source.map { source in
                    [
                        "segment_id": .string(source.segmentID), "version": source.version.map { .int($0) } ?? .null,
                        "as_of": .string(Timestamp.format(source.asOf)),
                    ]
                } ?? .null
            let data: JSON = [
                "list_id": .string(created.listID), "name": .string(created.name), "kind": .string(created.kind),
                "source": source, "members": .strings(created.members),
            ]
            return (data, .null)
        case .listMembersChanged(let changed):
            let data: JSON = [
                "list_id": .string(changed.listID), "added": .strings(changed.added),
                "removed": .strings(changed.removed),
            ]
            return (data, .null)
        default:
            return (CampaignEventCodec.data(event), .null)
        }
    }

    static func decode(_ event: EventPayload) -> MarketingEvent? {
        let data = event.data
        switch event.type {
        case MarketingEventType.segmentDefined:
            guard let id = data["segment_id"]?.stringValue, let version = data["version"]?.intValue,
                let filter = try? SegmentFilterJSON.filter(data["filter"] ?? .null)
            else { return nil }
            let segment = SegmentDefinition(
                segmentID: id, version: version, name: data["name"]?.stringValue ?? id,
                description: data["description"]?.stringValue, filter: filter
            )
            return .segmentDefined(SegmentDefined(segment))
        case MarketingEventType.segmentRetired:
            guard let id = data["segment_id"]?.stringValue else { return nil }
            return .segmentRetired(SegmentRetired(segmentID: id, version: data["version"]?.intValue ?? 1))
        case MarketingEventType.listCreated:
            guard let id = data["list_id"]?.stringValue else { return nil }
            let source = data["source"].flatMap { source -> ListSource? in
                guard let segment = source["segment_id"]?.stringValue,
                    let asOf = source["as_of"]?.stringValue.flatMap(Timestamp.parse)
                else { return nil }
                return ListSource(segmentID: segment, version: source["version"]?.intValue, asOf: asOf)
            }
            return .listCreated(
                ListCreated(
                    listID: id, name: data["name"]?.stringValue ?? id, kind: data["kind"]?.stringValue ?? "manual",
                    source: source, members: data["members"]?.arrayValue?.compactMap(\.stringValue) ?? []
                )
            )
        case MarketingEventType.listMembersChanged:
            guard let id = data["list_id"]?.stringValue else { return nil }
            return .listMembersChanged(
                ListMembersChanged(
                    listID: id, added: data["added"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                    removed: data["removed"]?.arrayValue?.compactMap(\.stringValue) ?? []
                )
            )
        default:
            return CampaignEventCodec.decode(event)
        }
    }
}
