public import CRMDomain
public import CRMEventStore
import CRMJSON
import Foundation
public import LMDB

/// The segment read model: each customer's non-personal facts (``SegmentFacts``), every version of
/// every segment, and each customer's membership of each version as intervals `[entered, left)`.
///
/// Membership is maintained while the log is folded. An event of a customer first brings every live
/// segment up to the event's instant with the customer's old facts — the clock alone moves, so only
/// the instants ``SegmentEvaluator/breakpoints(_:_:after:before:)`` lists can change anything, and a
/// transition is dated at that exact instant — then evaluates the new facts at the event's instant.
/// Membership after a customer's last event is evaluated directly on its facts, so a time-driven
/// transition needs no event of its own and is never dated when noticed.
///
/// Tables (named with ``Projector/tableName(_:)``):
/// - `facts`: customer id → ``SegmentFacts``;
/// - `segments`: segment id → its versions (``SegmentVersion``), and `#settings` → the value settings
///   (reporting time zone, value-status thresholds);
/// - `members`: segment id, `0x00`, version (8 bytes, big-endian), customer id → ``SegmentMembership``
///   (only customers that were members at some point);
/// - `deals`: deal id → ``SegmentDeal`` (for the deal counts).
///
/// Nothing here is personal data: segments never read `pii`.
public struct SegmentProjector: Projector {
    static let identity = (name: "segments", version: 1)

    public var name: String { Self.identity.name }
    public var version: Int { Self.identity.version }
    public let slot: Int

    let facts: Database
    let segments: Database
    let members: Database
    let deals: Database
    /// Static lists: list id → ``SegmentList``; and list id, `0x00`, customer id → its membership.
    let lists: Database
    let listMembers: Database
    /// The decoded segments, while their rows stay the same.
    let contextCache = ContextCache()
    /// What a rebuild's batch keeps in memory (``SegmentRowCache``); `nil` outside a batch.
    var rows: SegmentRowCache?

    public init(_ txn: Transaction, slot: Int = 0, cipher: RowCipher? = nil) throws {
        self.slot = slot
        func open(_ table: String) throws -> Database {
            try txn.openDatabase(
                ProjectionTables.name(Self.identity.name, version: Self.identity.version, slot: slot, table: table)
            )
        }
        self.facts = try open("facts")
        self.segments = try open("segments")
        self.members = try open("members")
        self.deals = try open("deals")
        self.lists = try open("lists")
        self.listMembers = try open("list_members")
    }

    public var databases: [Database] {
        [self.facts, self.segments, self.members, self.deals, self.lists, self.listMembers]
    }

    static let settingsKey = "#settings"
    /// The RFM segment map (``RfmRule``), as `rfm.configure` last set it.
    static let rfmMapKey = "#rfm-map"

    /// Reads no activity's or ticket message's personal data (``ReadModelPersonalData/unreadTypes``).
    public func readsPersonalData(of type: String) -> Bool { !ReadModelPersonalData.unreadTypes.contains(type) }

    public var queries: [String: ProjectionQuery] {
        [
            "segment.members": { params, txn in try self.membersQuery(params, txn) },
            "segment.history": { params, txn in try self.historyQuery(params, txn) },
            "segment.preview": { params, txn in try self.previewQuery(params, txn) },
            "segment.get": { params, txn in try self.getQuery(params, txn) },
            "segment.list": { params, txn in try self.listQuery(params, txn) },
            "list.members": { params, txn in try self.listMembersQuery(params, txn) },
            "list.get": { params, txn in try self.listGetQuery(params, txn) },
        ]
    }

    // MARK: - Folding

    public func apply(_ event: RecordedEvent, _ txn: Transaction) throws {
        let at = event.occurredAt
        switch event.event {
        case .customer(.created(let created)):
            guard try self.loadFacts(created.customerID, txn) == nil else { return }
            let facts = SegmentFacts(customerID: created.customerID, created: created, at: at)
            let context = try self.context(txn)
            for version in context.live where version.definedAt <= at {
                try self.settle(version, created.customerID, facts, at: at, context, txn)
            }
            try self.storeFacts(facts, of: created.customerID, txn)
        case .customer(.updated(let updated)):
            guard updated.tier != nil || updated.source != nil else { return }
            try self.update(updated.customerID, at: at, txn) { facts in
                if let tier = updated.tier { facts.tier = tier.to }
                if let source = updated.source { facts.source = source.to }
            }
        case .customer(.tagged(let tagged)):
            try self.update(tagged.customerID, at: at, txn) { facts in
                facts.tags = Set(facts.tags).union(tagged.added).subtracting(tagged.removed).sorted()
            }
        case .customer(.ownerChanged(let changed)):
            try self.update(changed.customerID, at: at, txn) { $0.ownerID = changed.to }
        case .customer(.leadStatusChanged(let changed)):
            try self.update(changed.customerID, at: at, txn) { $0.leadStatus = changed.to }
        case .customer(.lifecycleStageChanged(let changed)):
            try self.update(changed.customerID, at: at, txn) { $0.lifecycleStage = changed.to }
        case .customer(.consentChanged(let changed)):
            try self.update(changed.customerID, at: at, txn) { facts in
                if changed.channel == "email" { facts.emailConsent = changed.to }
                if changed.channel == "phone" { facts.doNotCall = changed.to == Validation.consentOptedOut }
            }
        case .customer(.activityLogged(let activity)):
            let occurred = activity.occurredAt ?? at
            let contacted = activity.direction == "outbound" || activity.kind == "meeting"
            for id in activity.customerIDs.uniqued().sorted() {
                try self.update(id, at: at, txn) { facts in
                    facts.lastActivityAt = max(facts.lastActivityAt ?? occurred, occurred)
                    if contacted { facts.lastContactedAt = max(facts.lastContactedAt ?? occurred, occurred) }
                }
            }
        case .customer(.erased(let erased)):
            let lists = try self.loadFacts(erased.customerID, txn)?.lists ?? []
            for list in lists { try self.changeList(list, added: [], removed: [erased.customerID], at: at, txn) }
            try self.update(erased.customerID, at: at, txn) { $0.active = false }
        case .customer(.merged(let merged)):
            try self.customersMerged(merged, at: at, txn)
        case .service(.ticketOpened(let opened)):
            try self.update(opened.customerID, at: at, txn) { $0.openTickets += 1 }
        case .service(.ticketStatusChanged(let changed)):
            let closed = ["solved", "closed"]
            let delta = (closed.contains(changed.from) ? 1 : 0) - (closed.contains(changed.to) ? 1 : 0)
            guard delta != 0 else { return }
            try self.update(changed.customerID, at: at, txn) { $0.openTickets = max(0, $0.openTickets + Int64(delta)) }
        case .sales(.dealCreated(let created)):
            let customers = created.customerIDs.uniqued().sorted()
            try txn.put(self.deals, created.dealID, SegmentDeal(customers: customers, kind: created.kind).encoded())
            for id in customers { try self.update(id, at: at, txn) { Self.count(&$0, created.kind, 1) } }
        case .sales(.dealStageChanged(let changed)):
            guard changed.fromKind != changed.toKind,
                var deal = try txn.get(self.deals, changed.dealID).map({ try SegmentDeal(decoding: $0) })
            else { return }
            deal.kind = changed.toKind
            try txn.put(self.deals, changed.dealID, deal.encoded())
            for id in deal.customers {
                try self.update(id, at: at, txn) { facts in
                    Self.count(&facts, changed.fromKind, -1)
                    Self.count(&facts, changed.toKind, 1)
                }
            }
        case .sales(.dealUpdated(let updated)):
            guard let change = updated.customerIDs,
                var deal = try txn.get(self.deals, updated.dealID).map({ try SegmentDeal(decoding: $0) })
            else { return }
            let now = Array(Set(change.to ?? [])).sorted()
            for id in Set(deal.customers).subtracting(now) {
                try self.update(id, at: at, txn) { Self.count(&$0, deal.kind, -1) }
            }
            for id in Set(now).subtracting(deal.customers) {
                try self.update(id, at: at, txn) { Self.count(&$0, deal.kind, 1) }
            }
            deal.customers = now
            try txn.put(self.deals, updated.dealID, deal.encoded())
        case .sales(.orderRecorded(let recorded)):
            try self.update(recorded.customerID, at: at, txn) { facts in
                facts.orders[recorded.orderID] = ValueOrder(
                    orderedAt: recorded.orderedAt, amount: recorded.amount, currency: recorded.currency,
                    margin: recorded.margin
                )
            }
        case .sales(.orderRefunded(let refunded)):
            try self.update(refunded.customerID, at: at, txn) { facts in
                facts.orders[refunded.orderID]?.refunds.append(ValueOrder.Refund(at: at, amount: refunded.amount))
            }
        case .sales(.orderCancelled(let cancelled)):
            try self.update(cancelled.customerID, at: at, txn) { facts in
                let previous = facts.orders[cancelled.orderID]?.cancelledAt
                facts.orders[cancelled.orderID]?.cancelledAt = previous ?? at
            }
        case .sales(.churnMarked(let mark)):
            let day = BusinessDay(mark.effectiveDate) ?? BusinessDay(instant: at)
            try self.update(mark.customerID, at: at, txn) { $0.churnMark = ChurnMark(day: day, reason: mark.reason) }
        case .sales(.churnUnmarked(let unmark)):
            try self.update(unmark.customerID, at: at, txn) { $0.churnMark = nil }
        case .feedback(.surveyResponded(let responded)):
            guard responded.kind != .ces else { return }
            try self.update(responded.customerID, at: at, txn) { facts in
                if responded.kind == .csat { facts.lastCsat = Int64(responded.score) }
                if responded.kind == .nps {
                    facts.lastNps = Int64(responded.score)
                    facts.lastNpsAt = at
                }
            }
        case .sales(.valueSettingsChanged(let changes)):
            let old = try self.context(txn)
            let settings = changes.applied(to: old.evaluator.clock.settings)
            // Everyone is brought up to the change with the old settings, then evaluated with the new.
            try self.reevaluate(old.live, at: at, before: old, txn) {
                try self.putSegmentsRow(Self.settingsKey, settings.encoded(), txn)
            }
        case .sales(.rfmSegmentMapDefined(let map)):
            try self.putSegmentsRow(Self.rfmMapKey, RfmRule.encoded(map.rules), txn)
        case .sales(.rfmSnapshotTaken(let snapshot)):
            try self.rfmSnapshotTaken(snapshot, at: at, txn)
        case .marketing(.segmentDefined(let defined)):
            try self.segmentDefined(defined.segment, at: at, txn)
        case .marketing(.segmentRetired(let retired)):
            try self.segmentEnded(retired.segmentID, at: at, retired: true, txn)
        case .marketing(.listCreated(let created)):
            let list = SegmentList(name: created.name, kind: created.kind, source: created.source, createdAt: at)
            try txn.put(self.lists, created.listID, list.encoded())
            try self.changeList(created.listID, added: created.members, removed: [], at: at, txn)
        case .marketing(.listMembersChanged(let changed)):
            try self.changeList(changed.listID, added: changed.added, removed: changed.removed, at: at, txn)
        default:
            return
        }
    }

    /// Records who joined and left list `listID` at `at`, in the list and in the customers' facts.
    private func changeList(_ listID: String, added: [String], removed: [String], at: Int64, _ txn: Transaction) throws
    {
        for (ids, member) in [(added, true), (removed, false)] {
            for id in ids {
                let key = Array(listID.utf8) + [0] + Array(id.utf8)
                var membership =
                    try txn.get(self.listMembers, key).map { try SegmentMembership(decoding: $0) }
                    ?? SegmentMembership()
                membership.set(member, at: at)
                try txn.put(self.listMembers, key, membership.encoded())
                try self.update(id, at: at, txn) { facts in
                    var lists = Set(facts.lists)
                    if member { lists.insert(listID) } else { lists.remove(listID) }
                    facts.lists = lists.sorted()
                }
            }
        }
    }

    /// Scores every buyer as the value read model does for the snapshot (recency, frequency and money in
    /// the snapshot's window as of its date, ties sharing a score, segments by the map) and gives each
    /// customer its new scores at the snapshot's instant: RFM conditions turn at that event.
    private func rfmSnapshotTaken(_ snapshot: RfmSnapshotTaken, at: Int64, _ txn: Transaction) throws {
        guard let day = BusinessDay(snapshot.asOfDate) else { return }
        let context = try self.context(txn)
        let clock = context.evaluator.clock
        let rules = try txn.get(self.segments, Self.rfmMapKey).map { try RfmRule.decoded($0) } ?? RfmRule.defaults
        let all = try self.allFacts(txn)
        let start = BusinessDay(days: day.days - Int64(snapshot.windowDays) + 1)
        var buyers: [(index: Int, recency: Int64, frequency: Int, monetary: Int128)] = []
        for (index, (_, facts)) in all.enumerated() where !facts.merged {
            let counted = CustomerValue.counted(Array(facts.orders.values), asOf: day, clock)
            guard let last = counted.map(\.date).max() else { continue }
            let inWindow = counted.filter { $0.date >= start }
            let monetary = inWindow.filter { $0.order.currency == snapshot.currency }.reduce(Int128(0)) { $0 + $1.net }
            buyers.append((index, day.days - last.days, inWindow.count, monetary))
        }
        let r = RFM.scores(buyers.map(\.recency), higherIsBetter: false)
        let f = RFM.scores(buyers.map(\.frequency), higherIsBetter: true)
        let m = RFM.scores(buyers.map(\.monetary), higherIsBetter: true)
        var scores: [Int: (r: Int, f: Int, m: Int, segment: String)] = [:]
        for (position, buyer) in buyers.enumerated() {
            scores[buyer.index] = (
                r[position], f[position], m[position],
                RfmRule.segment(rules, r: r[position], f: f[position], m: m[position])
            )
        }
        for (index, (id, old)) in all.enumerated() {
            let new = scores[index]
            if old.rfm?.r == new?.r, old.rfm?.f == new?.f, old.rfm?.m == new?.m, old.rfm?.segment == new?.segment {
                continue
            }
            let when = max(at, old.at)
            for version in context.live { try self.advance(version, id, old, to: when, context, txn) }
            var facts = old
            facts.rfm = new
            facts.at = when
            for version in context.live where version.definedAt <= when {
                try self.settle(version, id, facts, at: when, context, txn)
            }
            try self.storeFacts(facts, of: id, txn)
        }
    }

    /// Adds `delta` to the deal count of `kind`.
    private static func count(_ facts: inout SegmentFacts, _ kind: String, _ delta: Int64) {
        if kind == "open" { facts.openDeals = max(0, facts.openDeals + delta) }
        if kind == "won" { facts.wonDeals = max(0, facts.wonDeals + delta) }
    }

    /// Brings every live segment up to `at` with the customer's facts, applies `change`, and evaluates
    /// the new facts at `at`. An event dated before what the model has already evaluated takes effect
    /// at that point instead (membership is a history in the order events were recorded).
    private func update(_ id: String, at: Int64, _ txn: Transaction, _ change: (inout SegmentFacts) -> Void) throws {
        guard var facts = try self.loadFacts(id, txn) else { return }
        let context = try self.context(txn)
        let when = max(at, facts.at, context.live.map(\.settledAt).max() ?? at)
        for version in context.live { try self.advance(version, id, facts, to: when, context, txn) }
        change(&facts)
        facts.at = when
        for version in context.live where version.definedAt <= when {
            try self.settle(version, id, facts, at: when, context, txn)
        }
        try self.storeFacts(facts, of: id, txn)
    }

    /// Records the transitions of `id` in `version` at the breakpoints between its last evaluation and
    /// `instant` (exclusive), with the facts unchanged.
    private func advance(
        _ version: SegmentVersion, _ id: String, _ facts: SegmentFacts, to instant: Int64, _ context: Context,
        _ txn: Transaction
    ) throws {
        let from = max(facts.at, version.settledAt)
        let points = context.evaluator.breakpoints(version.filter, facts, after: from, before: instant)
        guard !points.isEmpty else { return }
        let key = Self.memberKey(version, id)
        let stored = try txn.get(self.members, key).map { try SegmentMembership(decoding: $0) }
        var membership = stored ?? SegmentMembership()
        for point in points {
            membership.set(context.evaluator.holds(version.filter, facts, at: point), at: point)
        }
        if membership != (stored ?? SegmentMembership()) { try txn.put(self.members, key, membership.encoded()) }
    }

    /// Evaluates `facts` in `version` at `instant` and records a transition there.
    private func settle(
        _ version: SegmentVersion, _ id: String, _ facts: SegmentFacts, at instant: Int64, _ context: Context,
        _ txn: Transaction
    ) throws {
        let member = context.evaluator.holds(version.filter, facts, at: instant)
        let key = Self.memberKey(version, id)
        let stored = try txn.get(self.members, key).map { try SegmentMembership(decoding: $0) }
        guard member != (stored?.isMember ?? false) else { return }
        var membership = stored ?? SegmentMembership()
        membership.set(member, at: instant)
        try txn.put(self.members, key, membership.encoded())
    }

    /// Brings `versions` up to `at` for every customer with the evaluator of `before`, runs `change`
    /// (which changes what the evaluator sees), then evaluates everyone at `at` and records `at` as the
    /// versions' settled time.
    private func reevaluate(
        _ versions: [SegmentVersion], at: Int64, before: Context, _ txn: Transaction, _ change: () throws -> Void
    ) throws {
        guard !versions.isEmpty else { return try change() }
        let all = try self.allFacts(txn)
        for version in versions {
            for (id, facts) in all { try self.advance(version, id, facts, to: at, before, txn) }
        }
        try change()
        let after = try self.context(txn)
        for old in versions {
            guard var version = after.versions[old.segmentID]?.first(where: { $0.version == old.version }) else {
                continue
            }
            version.settledAt = max(version.settledAt, at)
            for (id, facts) in all where version.endedAt == nil {
                try self.settle(version, id, facts, at: at, after, txn)
            }
            try self.storeVersion(version, txn)
        }
    }

    private func segmentDefined(_ segment: SegmentDefinition, at: Int64, _ txn: Transaction) throws {
        let before = try self.context(txn)
        // The segments that refer to this one, directly or not, change at this instant too.
        var dependents: [SegmentVersion] = []
        var names: Set<String> = [segment.segmentID]
        var grew = true
        while grew {
            grew = false
            for version in before.live where !names.contains(version.segmentID) {
                if !names.isDisjoint(with: version.filter.referencedSegments) {
                    names.insert(version.segmentID)
                    dependents.append(version)
                    grew = true
                }
            }
        }
        let previous = before.live.filter { $0.segmentID == segment.segmentID }
        try self.reevaluate(previous + dependents, at: at, before: before, txn) {
            var versions = before.versions[segment.segmentID] ?? []
            for index in versions.indices where versions[index].endedAt == nil { versions[index].endedAt = at }
            versions.append(
                SegmentVersion(
                    segmentID: segment.segmentID, version: segment.version, name: segment.name,
                    filter: segment.filter, definedAt: at
                )
            )
            try self.putSegmentsRow(segment.segmentID, SegmentVersion.encoded(versions), txn)
        }
        for version in previous { try self.closeMembers(version, at: at, txn) }
        // The new version starts with everyone evaluated at its definition.
        let after = try self.context(txn)
        guard let version = after.versions[segment.segmentID]?.last else { return }
        try self.forEachFacts(txn) { id, facts in
            if after.evaluator.holds(version.filter, facts, at: at) {
                var membership = SegmentMembership()
                membership.set(true, at: at)
                try txn.put(self.members, Self.memberKey(version, id), membership.encoded())
            }
            return true
        }
    }

    /// Ends the live version of `segmentID` at `at`: everyone is brought up to it and leaves.
    private func segmentEnded(_ segmentID: String, at: Int64, retired: Bool, _ txn: Transaction) throws {
        let before = try self.context(txn)
        let live = before.live.filter { $0.segmentID == segmentID }
        guard !live.isEmpty else { return }
        try self.reevaluate(live, at: at, before: before, txn) {
            var versions = before.versions[segmentID] ?? []
            for index in versions.indices where versions[index].endedAt == nil {
                versions[index].endedAt = at
                versions[index].retired = retired
            }
            try self.putSegmentsRow(segmentID, SegmentVersion.encoded(versions), txn)
        }
        for version in live { try self.closeMembers(version, at: at, txn) }
    }

    /// The members of an ended version leave at its end.
    private func closeMembers(_ version: SegmentVersion, at: Int64, _ txn: Transaction) throws {
        let prefix = Self.memberPrefix(version)
        var closed: [([UInt8], SegmentMembership)] = []
        try txn.withCursor(self.members) { cursor in
            var entry = try cursor.seek(atOrAfter: prefix)
            while let found = entry, found.key.starts(with: prefix) {
                var membership = try SegmentMembership(decoding: found.valueBytes)
                if membership.isMember {
                    membership.set(false, at: at)
                    closed.append((found.keyBytes, membership))
                }
                entry = try cursor.next()
            }
        }
        for (key, membership) in closed { try txn.put(self.members, key, membership.encoded()) }
    }

    /// The secondaries leave every segment; the primary gains their orders, tickets, deals and lists
    /// and takes the merged record's non-personal fields (its lifecycle stage follows in its own event).
    private func customersMerged(_ merged: CustomersMerged, at: Int64, _ txn: Transaction) throws {
        var absorbed: [SegmentFacts] = []
        for id in merged.secondaryIDs {
            guard let facts = try self.loadFacts(id, txn) else { continue }
            absorbed.append(facts)
            // Its static lists are the survivor's from now on.
            for list in facts.lists {
                try self.changeList(list, added: [merged.primaryID], removed: [id], at: at, txn)
            }
            try self.update(id, at: at, txn) { facts in
                facts.active = false
                facts.merged = true
            }
        }
        for dealID in merged.moved.deals {
            guard var deal = try txn.get(self.deals, dealID).map({ try SegmentDeal(decoding: $0) }) else { continue }
            deal.customers = Array(
                Set(deal.customers.map { merged.secondaryIDs.contains($0) ? merged.primaryID : $0 })
            ).sorted()
            try txn.put(self.deals, dealID, deal.encoded())
        }
        let result = merged.result
        try self.update(merged.primaryID, at: at, txn) { facts in
            facts.tags = result.tags.sorted()
            facts.tier = result.tier
            facts.source = result.source
            facts.ownerID = result.ownerID
            facts.leadStatus = result.leadStatus
            for other in absorbed {
                facts.openTickets += other.openTickets
                facts.openDeals += other.openDeals
                facts.wonDeals += other.wonDeals
                facts.orders.merge(other.orders) { mine, _ in mine }
                facts.lists = Array(Set(facts.lists).union(other.lists)).sorted()
                facts.createdAt = min(facts.createdAt, other.createdAt)
                facts.lastActivityAt = [facts.lastActivityAt, other.lastActivityAt].compactMap { $0 }.max()
                facts.lastContactedAt = [facts.lastContactedAt, other.lastContactedAt].compactMap { $0 }.max()
            }
        }
    }

    // MARK: - Storage

    /// What a fold or a query evaluates with: the settings, every segment's versions, the live ones.
    struct Context {
        let evaluator: SegmentEvaluator
        let versions: [String: [SegmentVersion]]
        let live: [SegmentVersion]
    }

    /// The context of the `segments` rows in `txn`: the one last decoded when the rows are those it was
    /// decoded from (every event of a customer needs it, and segments rarely change), else decoded
    /// afresh. The rows themselves are compared, so a context never answers for other rows, whichever
    /// transaction (committed or not) decoded it.
    func context(_ txn: Transaction) throws -> Context {
        if let known = self.rows?.context { return known }
        let context = try self.storedContext(txn)
        self.rows?.context = context
        return context
    }

    /// The context of the `segments` rows in `txn` (see ``context(_:)``).
    private func storedContext(_ txn: Transaction) throws -> Context {
        let cached = self.contextCache.entry
        if let cached {
            var index = 0
            let same = try txn.withCursor(self.segments) { cursor -> Bool in
                var entry = try cursor.first()
                while let found = entry {
                    guard index < cached.rows.count, Self.equal(found.key, cached.rows[index].key),
                        Self.equal(found.value, cached.rows[index].value)
                    else { return false }
                    index += 1
                    entry = try cursor.next()
                }
                return index == cached.rows.count
            }
            if same { return cached.context }
        }
        var rows: [(key: [UInt8], value: [UInt8])] = []
        var versions: [String: [SegmentVersion]] = [:]
        var settings = ValueSettings()
        try txn.withCursor(self.segments) { cursor in
            var entry = try cursor.first()
            while let found = entry {
                rows.append((found.keyBytes, found.valueBytes))
                let key = String(decoding: found.key, as: UTF8.self)
                if key == Self.settingsKey {
                    settings = try ValueSettings(decoding: found.valueBytes)
                } else if !key.hasPrefix("#") {
                    versions[key] = try SegmentVersion.decoded(found.valueBytes)
                }
                entry = try cursor.next()
            }
        }
        let context = Self.context(versions, settings)
        self.contextCache.entry = (rows, context)
        return context
    }

    /// Whether `stored` holds the bytes of `row`.
    private static func equal(_ stored: UnsafeRawBufferPointer, _ row: [UInt8]) -> Bool {
        guard stored.count == row.count else { return false }
        return row.withUnsafeBytes { row in
            row.isEmpty || memcmp(stored.baseAddress!, row.baseAddress!, row.count) == 0
        }
    }

    /// The context of the segments' `versions` under `settings`.
    private static func context(_ versions: [String: [SegmentVersion]], _ settings: ValueSettings) -> Context {
        let lookup = versions
        let evaluator = SegmentEvaluator(clock: ValueClock(settings)) { id, instant in
            lookup[id]?.last { $0.inForce(at: instant) }?.filter
        }
        let live = versions.keys.sorted().compactMap { versions[$0]?.last }.filter { $0.endedAt == nil }
        return Context(evaluator: evaluator, versions: versions, live: live)
    }

    /// The last context ``context(_:)`` decoded, with the rows it was decoded from.
    final class ContextCache: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: (rows: [(key: [UInt8], value: [UInt8])], context: Context)?

        var entry: (rows: [(key: [UInt8], value: [UInt8])], context: Context)? {
            get { self.lock.withLock { self.stored } }
            set { self.lock.withLock { self.stored = newValue } }
        }
    }

    private func storeVersion(_ version: SegmentVersion, _ txn: Transaction) throws {
        guard let bytes = try txn.get(self.segments, version.segmentID) else { return }
        var versions = try SegmentVersion.decoded(bytes)
        guard let index = versions.firstIndex(where: { $0.version == version.version }) else { return }
        versions[index] = version
        try self.putSegmentsRow(version.segmentID, SegmentVersion.encoded(versions), txn)
    }

    func loadFacts(_ id: String, _ txn: Transaction) throws -> SegmentFacts? {
        func stored() throws -> SegmentFacts? { try txn.get(self.facts, id).map { try SegmentFacts(decoding: $0) } }
        guard let rows = self.rows else { return try stored() }
        return try rows.facts.read(id, stored)
    }

    /// Stores the facts of customer `id` (in a batch's memory, written when it flushes).
    private func storeFacts(_ facts: SegmentFacts, of id: String, _ txn: Transaction) throws {
        guard let rows = self.rows else { return try txn.put(self.facts, id, facts.encoded()) }
        rows.facts.set(id, facts)
    }

    /// Stores a row of `segments` (a batch then decodes the segments again).
    private func putSegmentsRow(_ key: String, _ value: [UInt8], _ txn: Transaction) throws {
        try txn.put(self.segments, key, value)
        self.rows?.context = nil
    }

    /// Calls `body` with every customer's id and facts in id order (after `cursor`, when given) until
    /// it returns `false`.
    func forEachFacts(
        after cursor: String? = nil, _ txn: Transaction, _ body: (String, SegmentFacts) throws -> Bool
    ) throws {
        // A batch's facts are written first, so that the scan reads them.
        if let rows = self.rows { try self.flushFacts(rows, txn) }
        try txn.withCursor(self.facts) { scan in
            var entry = try cursor.map { try scan.seek(atOrAfter: Array($0.utf8) + [0]) } ?? scan.first()
            while let found = entry,
                try body(String(decoding: found.key, as: UTF8.self), try SegmentFacts(decoding: found.valueBytes))
            {
                entry = try scan.next()
            }
        }
    }

    /// Every customer's id and facts, in id order.
    func allFacts(_ txn: Transaction) throws -> [(String, SegmentFacts)] {
        var all: [(String, SegmentFacts)] = []
        try self.forEachFacts(txn) { id, facts in
            all.append((id, facts))
            return true
        }
        return all
    }

    static func memberPrefix(_ version: SegmentVersion) -> [UInt8] {
        var key = Array(version.segmentID.utf8) + [0]
        for shift in stride(from: 56, through: 0, by: -8) {
            key.append(UInt8(truncatingIfNeeded: version.version >> shift))
        }
        return key + [0]
    }

    static func memberKey(_ version: SegmentVersion, _ customerID: String) -> [UInt8] {
        Self.memberPrefix(version) + Array(customerID.utf8)
    }
}
