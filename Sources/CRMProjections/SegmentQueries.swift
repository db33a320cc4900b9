import CRMDomain
import CRMEventStore
import CRMJSON
import CRMParams
import Foundation
import LMDB

// `segment.members`, `segment.history`, `segment.preview`, `segment.get`, `segment.list`.

extension SegmentProjector {
    /// The instant a segment query asks about: `as_of` (an RFC 3339 time), default now.
    static func instant(_ params: inout Params) throws -> Int64 {
        guard let raw = try params.raw("as_of") else {
            return Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        }
        guard let text = raw.stringValue, let instant = Timestamp.parse(text) else {
            throw Rejection.invalid("as_of", "a segment is asked about at an instant: an RFC 3339 time")
        }
        return instant
    }

    /// Whether customer `id` (with `facts`) is a member of `version` at `instant`: from the stored
    /// intervals before the customer's last evaluation, by evaluating its facts after it.
    func isMember(
        _ version: SegmentVersion, _ id: String, _ facts: SegmentFacts, at instant: Int64,
        _ context: Context, _ txn: Transaction
    ) throws -> Bool {
        guard version.inForce(at: instant) else { return false }
        if instant >= max(facts.at, version.settledAt) {
            return context.evaluator.holds(version.filter, facts, at: instant)
        }
        return try txn.get(self.members, Self.memberKey(version, id)).map {
            try SegmentMembership(decoding: $0).contains(instant)
        } ?? false
    }

    func versions(_ id: String, _ context: Context) throws -> [SegmentVersion] {
        guard let versions = context.versions[id], !versions.isEmpty else {
            throw Rejection(
                .unknownSegment, field: "segment_id", "segment \(id) is not defined",
                details: ["segment_id": .string(id)]
            )
        }
        return versions
    }

    /// `segment.members {segment_id, as_of?, definition?, limit?, cursor?}`.
    func membersQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("segment_id", required: true)!
        let instant = try Self.instant(&params)
        let definition = try params.oneOf("definition", ["as_of", "current"]) ?? "as_of"
        let limit = Int(try params.int("limit") ?? 100)
        guard (1...1000).contains(limit) else { throw Rejection.invalid("limit", "must be 1…1000") }
        let cursor = try params.identifier("cursor")
        try params.finish()
        let context = try self.context(txn)
        let versions = try self.versions(id, context)
        var version: SegmentVersion
        if definition == "current" {
            version = versions.last!
            guard version.definedAt <= instant else {
                throw Rejection.invalid(
                    "definition",
                    "version \(version.version) was defined at \(Timestamp.format(version.definedAt)): evaluating it "
                        + "earlier needs a replay of the log, which this version of crmd does not do yet"
                )
            }
            // What-if: the newest filter, as if it had been in force all along since its definition.
            version.endedAt = nil
        } else {
            guard let found = versions.last(where: { $0.definedAt <= instant }) else {
                throw Rejection(
                    .unknownSegment, field: "as_of",
                    "segment \(id) was first defined at \(Timestamp.format(versions[0].definedAt))",
                    details: [
                        "segment_id": .string(id), "defined_at": .string(Timestamp.format(versions[0].definedAt)),
                    ]
                )
            }
            version = found
        }
        var page = try self.page(after: cursor, limit: limit, txn) { customerID, facts in
            try self.isMember(version, customerID, facts, at: instant, context, txn)
        }
        page["segment_id"] = .string(id)
        page["version"] = .int(version.version)
        page["definition"] = .string(definition)
        page["as_of"] = .string(Timestamp.format(instant))
        page["retired"] = .bool(version.retired && !version.inForce(at: instant))
        return page
    }

    /// One page of the customers `isMember` selects, in id order after `cursor`: `{count (all of them,
    /// on the first page only), members, next_cursor}`.
    func page(
        after cursor: String?, limit: Int, _ txn: Transaction, isMember: (String, SegmentFacts) throws -> Bool
    ) throws -> JSON {
        var page = MemberPage(limit: limit, cursor: cursor)
        try self.forEachFacts(after: cursor, txn) { id, facts in try !isMember(id, facts) || page.add(id) }
        return page.json
    }

    /// The instant and filter of a `segment.members` or `segment.preview` this model cannot answer
    /// from what it keeps, so the log up to the instant must be folded again (see
    /// ``answerReplayed(_:_:instant:filter:_:)``); `nil` when it can answer. The newest definition asked
    /// about before it was defined, and a preview of an instant before some customer's last event, have
    /// no stored history.
    public func replayPlan(
        _ method: String, _ json: JSON?, _ txn: Transaction
    ) throws -> (instant: Int64, filter: SegmentFilter, version: Int64?)? {
        var params = try Params(json)
        let instant = try Self.instant(&params)
        let context = try self.context(txn)
        if method == "segment.members" {
            guard try params.oneOf("definition", ["as_of", "current"]) == "current",
                let id = try params.identifier("segment_id"), let current = context.versions[id]?.last,
                instant < current.definedAt
            else { return nil }
            return (instant, current.filter, current.version)
        }
        guard let raw = try params.raw("filter") else { return nil }
        let filter = try SegmentFilterJSON.filter(raw)
        var later = false
        try self.forEachFacts(txn) { _, facts in
            later = facts.at > instant
            return !later
        }
        return later ? (instant, filter, nil) : nil
    }

    /// The answer of `segment.members` (the newest definition, what-if) or `segment.preview` from a
    /// model folded from the events up to `instant` only: `filter` evaluated on every customer's facts
    /// then, with `"cost": "replay"`.
    public func answerReplayed(
        _ method: String, _ json: JSON?, instant: Int64, filter: SegmentFilter, _ txn: Transaction
    ) throws -> JSON {
        var params = try Params(json)
        let context = try self.context(txn)
        let passes = { (facts: SegmentFacts) in context.evaluator.holds(filter, facts, at: instant) }
        if method == "segment.preview" {
            _ = try params.raw("filter")
            _ = try Self.instant(&params)
            try params.finish()
            var answer = try self.preview(filter, at: instant, context, txn)
            answer["cost"] = "replay"
            return answer
        }
        let id = try params.identifier("segment_id", required: true)!
        _ = try Self.instant(&params)
        let definition = try params.oneOf("definition", ["as_of", "current"])
        let limit = Int(try params.int("limit") ?? 100)
        guard (1...1000).contains(limit) else { throw Rejection.invalid("limit", "must be 1…1000") }
        let cursor = try params.identifier("cursor")
        try params.finish()
        var page = try self.page(after: cursor, limit: limit, txn) { _, facts in passes(facts) }
        page["segment_id"] = .string(id)
        page["definition"] = .string(definition)
        page["as_of"] = .string(Timestamp.format(instant))
        page["retired"] = false
        page["cost"] = "replay"
        return page
    }

    /// `segment.history {segment_id, customer_id}`: the customer's intervals in every version, up to
    /// now (time-driven transitions after its last event included).
    func historyQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("segment_id", required: true)!
        let customerID = try params.identifier("customer_id", required: true)!
        try params.finish()
        let context = try self.context(txn)
        let versions = try self.versions(id, context)
        guard let facts = try self.loadFacts(customerID, txn) else {
            throw Rejection.notFound("customer_id", "customer", customerID)
        }
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        var intervals: [JSON] = []
        for version in versions {
            var membership =
                try txn.get(self.members, Self.memberKey(version, customerID)).map {
                    try SegmentMembership(decoding: $0)
                } ?? SegmentMembership()
            let from = max(facts.at, version.settledAt)
            let end = version.endedAt ?? now
            if from < end {
                for point in context.evaluator.breakpoints(version.filter, facts, after: from, before: end) {
                    membership.set(context.evaluator.holds(version.filter, facts, at: point), at: point)
                }
                if version.endedAt != nil { membership.set(false, at: end) }
            }
            var rows = membership.intervals.map { ($0.from, Optional($0.to)) }
            if let open = membership.openSince { rows.append((open, nil)) }
            for (from, to) in rows {
                intervals.append([
                    "version": .int(version.version), "entered_at": .string(Timestamp.format(from)),
                    "exited_at": .string(to.map(Timestamp.format)),
                ])
            }
        }
        return ["segment_id": .string(id), "customer_id": .string(customerID), "intervals": .array(intervals)]
    }

    /// `segment.preview {filter, as_of?}`: how many customers a filter selects and the first 20.
    func previewQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let filter = try SegmentFilterJSON.filter(try params.raw("filter", required: true)!)
        let instant = try Self.instant(&params)
        try params.finish()
        let context = try self.context(txn)
        for other in filter.referencedSegments where context.versions[other] == nil {
            throw Rejection(
                .unknownSegment, field: "filter", "segment \(other) is not defined",
                details: ["segment_id": .string(other)]
            )
        }
        return try self.preview(filter, at: instant, context, txn)
    }

    /// `segment.preview`'s answer: the active customers whose facts pass `filter` at `instant` (the
    /// router has made sure no customer changed after it), counted, and the first 20.
    func preview(_ filter: SegmentFilter, at instant: Int64, _ context: Context, _ txn: Transaction) throws -> JSON {
        var page = try self.page(after: nil, limit: 20, txn) { _, facts in
            context.evaluator.holds(filter, facts, at: instant)
        }
        page["sample"] = page["members"]
        page["members"] = nil
        page["next_cursor"] = nil
        page["as_of"] = .string(Timestamp.format(instant))
        return page
    }

    /// `segment.get {segment_id}`: every version with its filter.
    func getQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("segment_id", required: true)!
        try params.finish()
        let versions = try self.versions(id, try self.context(txn))
        return [
            "segment_id": .string(id), "name": .string(versions.last!.name),
            "retired": .bool(versions.last!.retired), "versions": .array(versions.map(Self.json)),
        ]
    }

    /// `segment.list`: every segment with its current version.
    func listQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        try Params(json).finish()
        let context = try self.context(txn)
        return [
            "segments": .array(
                context.versions.keys.sorted().compactMap { id in
                    guard let last = context.versions[id]?.last else { return nil }
                    return [
                        "segment_id": .string(id), "name": .string(last.name), "version": .int(last.version),
                        "defined_at": .string(Timestamp.format(last.definedAt)), "retired": .bool(last.retired),
                    ]
                }
            )
        ]
    }

    static func json(_ version: SegmentVersion) -> JSON {
        [
            "version": .int(version.version), "name": .string(version.name),
            "defined_at": .string(Timestamp.format(version.definedAt)),
            "ended_at": .string(version.endedAt.map(Timestamp.format)),
            "filter": SegmentFilterJSON.json(version.filter),
        ]
    }
}

// MARK: - Static lists

extension SegmentProjector {
    func list(_ id: String, _ txn: Transaction) throws -> SegmentList {
        guard let bytes = try txn.get(self.lists, id) else {
            throw Rejection(
                .unknownList, field: "list_id", "list \(id) does not exist", details: ["list_id": .string(id)])
        }
        return try SegmentList(decoding: bytes)
    }

    /// `list.get {list_id}`.
    func listGetQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("list_id", required: true)!
        try params.finish()
        let list = try self.list(id, txn)
        let source: JSON =
            list.source.map { source in
                [
                    "segment_id": .string(source.segmentID), "version": source.version.map { .int($0) } ?? .null,
                    "as_of": .string(Timestamp.format(source.asOf)),
                ]
            } ?? .null
        return [
            "list_id": .string(id), "name": .string(list.name), "kind": .string(list.kind), "source": source,
            "created_at": .string(Timestamp.format(list.createdAt)),
        ]
    }

    /// `list.members {list_id, as_of?, limit?, cursor?}`: the members at an instant (default now).
    func listMembersQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("list_id", required: true)!
        let instant = try Self.instant(&params)
        let limit = Int(try params.int("limit") ?? 100)
        guard (1...1000).contains(limit) else { throw Rejection.invalid("limit", "must be 1…1000") }
        let cursor = try params.identifier("cursor")
        try params.finish()
        _ = try self.list(id, txn)
        let prefix = Array(id.utf8) + [0]
        var page = MemberPage(limit: limit, cursor: cursor)
        try txn.withCursor(self.listMembers) { scan in
            var entry = try scan.seek(atOrAfter: prefix + (cursor.map { Array($0.utf8) + [0] } ?? []))
            while let found = entry, found.key.starts(with: prefix) {
                if try SegmentMembership(decoding: found.valueBytes).contains(instant),
                    !page.add(String(decoding: found.key.dropFirst(prefix.count), as: UTF8.self))
                {
                    break
                }
                entry = try scan.next()
            }
        }
        var answer = page.json
        answer["list_id"] = .string(id)
        answer["as_of"] = .string(Timestamp.format(instant))
        return answer
    }

    /// Every member of `segmentID` at `instant` in the version in force then, for a snapshot list.
    public func memberIDs(of segmentID: String, at instant: Int64, _ txn: Transaction) throws -> (Int64, [String]) {
        let context = try self.context(txn)
        guard let versions = context.versions[segmentID], !versions.isEmpty else {
            throw Rejection(
                .unknownSegment, field: "from_segment", "segment \(segmentID) is not defined",
                details: ["segment_id": .string(segmentID)]
            )
        }
        guard let version = versions.last(where: { $0.inForce(at: instant) }) else {
            throw Rejection(
                .unknownSegment, field: "as_of", "segment \(segmentID) is not in force at \(Timestamp.format(instant))",
                details: [
                    "segment_id": .string(segmentID), "defined_at": .string(Timestamp.format(versions[0].definedAt)),
                ]
            )
        }
        var ids: [String] = []
        try self.forEachFacts(txn) { id, facts in
            if try self.isMember(version, id, facts, at: instant, context, txn) { ids.append(id) }
            return true
        }
        return (version.version, ids)
    }
}

extension SegmentProjector {
    /// Every member of static list `listID` at `instant`.
    public func listMemberIDs(_ listID: String, at instant: Int64, _ txn: Transaction) throws -> [String] {
        guard try txn.get(self.lists, listID) != nil else {
            throw Rejection(
                .unknownList, field: "audience", "list \(listID) does not exist", details: ["list_id": .string(listID)])
        }
        let prefix = Array(listID.utf8) + [0]
        var ids: [String] = []
        try txn.withCursor(self.listMembers) { scan in
            var entry = try scan.seek(atOrAfter: prefix)
            while let found = entry, found.key.starts(with: prefix) {
                if try SegmentMembership(decoding: found.valueBytes).contains(instant) {
                    ids.append(String(decoding: found.key.dropFirst(prefix.count), as: UTF8.self))
                }
                entry = try scan.next()
            }
        }
        return ids
    }
}

/// A page of member ids being collected: the first `limit` in id order, the count of all of them on
/// the first page, and the cursor of the next page.
struct MemberPage {
    let limit: Int
    let cursor: String?
    var members: [JSON] = []
    var count = 0
    var next: String?

    init(limit: Int, cursor: String?) {
        self.limit = limit
        self.cursor = cursor
    }

    /// Adds a member; `false` when the scan can stop (a later page needs no count).
    mutating func add(_ id: String) -> Bool {
        self.count += 1
        if self.members.count < self.limit {
            self.members.append(.string(id))
        } else if self.next == nil {
            self.next = self.members.last?.stringValue
            return self.cursor == nil
        }
        return true
    }

    var json: JSON {
        [
            "count": self.cursor == nil ? .int(Int64(self.count)) : .null, "members": .array(self.members),
            "next_cursor": .string(self.next),
        ]
    }
}
