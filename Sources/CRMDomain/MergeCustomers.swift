/// `customer.merge`: merges duplicates of one person into the primary, which survives; there is no
/// unmerge.
///
/// The rules, in order:
/// 1. Scalars (name parts, company, job title, address, owner, tier, source, lead status, each custom
///    key): the primary's value when it has one, else the first secondary's, in the order given, that
///    has one; `resolve{field: customer_id}` picks the value of one of the merged customers instead
///    (its value as it is, even none).
/// 2. Email addresses and phone numbers: the union, de-duplicated on the compared form (lower-cased
///    address, normalized number), the primary's first. The primary's primary address and number stay
///    primary, every other one becomes additional. Flags carry over; on a collision an opt-out (and a
///    do-not-call, an invalid mark) wins, and otherwise the first recorded consent.
/// 3. Tags: the union.
/// 4. Lifecycle: the stage furthest down the funnel (`other` counts as the nearest); when that is not
///    the primary's, the merge causes a `LifecycleStageChanged` with source `merge`.
/// 5. The secondaries' deals, tickets, activities and orders are the primary's from now on (`moved`).
/// 6. The secondaries become tombstones (`customer_merged` for every command naming them); their
///    addresses belong to the primary.
/// 7. A legal hold on any of them stays on the primary; the primary's key ring gains the secondaries
///    and their own rings, so its erasure destroys their keys too.
///
/// Rejections: the primary among the secondaries, or a secondary twice → `invalid_merge`; a `resolve`
/// naming a customer not in the merge → `invalid_merge`; unknown → `not_found`; merged or erased →
/// `customer_merged` / `customer_erased`.
public struct MergeCustomers: DomainCommand {
    /// `customer.merge`.
    public static let method = "customer.merge"

    /// The fields `resolve` may name besides `custom.<key>`.
    public static let resolvableFields = [
        "first_name", "last_name", "company_name", "job_title", "address", "owner_id", "tier", "source",
        "lead_status",
    ]

    public let primaryID: String
    /// At least one, in the order that fills the fields the primary lacks.
    public let secondaryIDs: [String]
    /// Field (one of ``resolvableFields`` or `custom.<key>`) → the customer whose value wins.
    public let resolve: [String: String]
    /// Customer id → the version its stream must be at.
    public let expectedVersions: [String: UInt64]

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        primaryID: String,
        secondaryIDs: [String],
        resolve: [String: String] = [:],
        expectedVersions: [String: UInt64] = [:]
    ) {
        self.primaryID = primaryID
        self.secondaryIDs = secondaryIDs
        self.resolve = resolve
        self.expectedVersions = expectedVersions
    }

    /// `customer-<primary_id>`.
    public func targetStream(_ context: CommandContext) -> String? { CustomerStream.name(self.primaryID) }

    /// The version of each customer stream named in `expected_versions`.
    public func expectedStreamVersions() -> [ExpectedStreamVersion] {
        self.expectedVersions.keys.sorted().map { id in
            ExpectedStreamVersion(
                stream: CustomerStream.name(id), version: self.expectedVersions[id]!, field: "expected_versions.\(id)"
            )
        }
    }

    /// `CustomersMerged` on the primary's stream, then the lifecycle change it causes, if any.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        var seen: Set<String> = [self.primaryID]
        for (index, id) in self.secondaryIDs.enumerated() where !seen.insert(id).inserted {
            let message =
                id == self.primaryID
                ? "the primary \(id) cannot be merged into itself" : "customer \(id) is named twice"
            throw Rejection(.invalidMerge, field: "secondary_ids[\(index)]", message)
        }
        let primary = try state.activeCustomer(self.primaryID, field: "primary_id")
        var secondaries: [CustomerState] = []
        for (index, id) in self.secondaryIDs.enumerated() {
            secondaries.append(try state.activeCustomer(id, field: "secondary_ids[\(index)]"))
        }
        for field in self.resolve.keys.sorted() where !seen.contains(self.resolve[field]!) {
            throw Rejection(
                .invalidMerge, field: "resolve.\(field)",
                "customer \(self.resolve[field]!) is not one of the customers being merged"
            )
        }
        let everyone = [primary] + secondaries
        let result = self.merged(everyone)
        var mergedFrom = primary.mergedFrom
        for secondary in secondaries { mergedFrom += [secondary.id] + secondary.mergedFrom }
        var moved = CustomersMerged.Moved()
        for secondary in secondaries {
            moved.deals += try state.linkedRecords(secondary.id, .deal)
            moved.tickets += try state.linkedRecords(secondary.id, .ticket)
            moved.activities += try state.linkedRecords(secondary.id, .activity)
            moved.orders += try state.linkedRecords(secondary.id, .order)
        }
        moved = CustomersMerged.Moved(
            deals: Set(moved.deals).sorted(), tickets: Set(moved.tickets).sorted(),
            activities: Set(moved.activities).sorted(), orders: Set(moved.orders).sorted()
        )
        let stream = CustomerStream.name(self.primaryID)
        let event = CustomersMerged(
            primaryID: self.primaryID, secondaryIDs: self.secondaryIDs, result: result, mergedFrom: mergedFrom,
            moved: moved
        )
        var events = [NewEvent(.customer(.merged(event)), stream: stream)]
        let furthest = everyone.map(\.lifecycleStage).max { MergeCustomers.depth($0) < MergeCustomers.depth($1) }!
        if MergeCustomers.depth(furthest) > MergeCustomers.depth(primary.lifecycleStage) {
            let changed = LifecycleStageChanged(
                customerID: self.primaryID, from: primary.lifecycleStage, to: furthest, source: "merge"
            )
            events.append(NewEvent(.customer(.lifecycleStageChanged(changed)), stream: stream, causedBy: 0))
        }
        return Decision(events: events, result: CommandResult(.customer, self.primaryID))
    }

    /// How far down the funnel `stage` is: its place in the lifecycle, with `other` (outside the
    /// funnel) before every stage.
    static func depth(_ stage: String) -> Int {
        stage == "other" ? -1 : Validation.lifecycleRank(stage) ?? -1
    }

    /// The primary as the merge of `everyone` (the primary first) leaves it, by rules 1–3 and 7.
    func merged(_ everyone: [CustomerState]) -> CustomerState {
        let byID = Dictionary(everyone.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        /// The winner's value of `field`: the resolved customer's, else the first that has one.
        func pick<Value>(_ field: String, _ value: (CustomerState) -> Value?) -> Value? {
            if let id = self.resolve[field], let chosen = byID[id] { return value(chosen) }
            return everyone.lazy.compactMap(value).first
        }
        var result = everyone[0]
        result.firstName = pick("first_name", \.firstName)
        result.lastName = pick("last_name", \.lastName)
        result.companyName = pick("company_name", \.companyName)
        result.jobTitle = pick("job_title", \.jobTitle)
        result.address = pick("address", \.address)
        result.ownerID = pick("owner_id", \.ownerID)
        result.tier = pick("tier", \.tier)
        result.source = pick("source", \.source)
        result.leadStatus = pick("lead_status", \.leadStatus)
        var custom: [String: CustomValue] = [:]
        for key in Set(everyone.flatMap(\.custom.keys)) {
            custom[key] = pick("custom.\(key)") { $0.custom[key] }
        }
        result.custom = custom
        result.tags = Set(everyone.flatMap(\.tags)).sorted()
        result.emails = MergeCustomers.mergedEmails(everyone.map(\.emails))
        result.phones = MergeCustomers.mergedPhones(everyone.map(\.phones))
        result.legalHold = everyone.contains { $0.legalHold }
        return result
    }

    /// The union of `lists` (the primary's first) by lower-cased address: the first list's primary
    /// stays primary (else the first address), flags carry over and an opt-out or an invalid mark wins.
    public static func mergedEmails(_ lists: [[CustomerState.Email]]) -> [CustomerState.Email] {
        MergeCustomers.union(lists, key: \.key, primary: \.primary) { merged, email in
            merged.invalid = merged.invalid || email.invalid
            merged.consent = MergeCustomers.consent(merged.consent, email.consent)
            merged.optedOut = merged.optedOut || email.optedOut
            if merged.optedOut { merged.consent = Validation.consentOptedOut }
        }
    }

    /// The union of `lists` (the primary's first) by normalized number: the first list's primary stays
    /// primary (else the first number), flags carry over and an opt-out (do not call) wins.
    public static func mergedPhones(_ lists: [[CustomerState.Phone]]) -> [CustomerState.Phone] {
        MergeCustomers.union(lists, key: \.normalized, primary: \.primary) { merged, phone in
            merged.type = merged.type ?? phone.type
            merged.consent = MergeCustomers.consent(merged.consent, phone.consent)
            merged.smsConsent = MergeCustomers.consent(merged.smsConsent, phone.smsConsent)
            merged.doNotCall = merged.doNotCall || phone.doNotCall
            if merged.doNotCall { merged.consent = Validation.consentOptedOut }
        }
    }

    /// The entries of `lists` once per `key`, in order of first appearance; only the first list's
    /// primary stays primary (else the first entry is), and `combine` folds a later copy of an entry
    /// into the first.
    private static func union<Entry>(
        _ lists: [[Entry]],
        key: (Entry) -> String,
        primary: WritableKeyPath<Entry, Bool>,
        combine: (inout Entry, Entry) -> Void
    ) -> [Entry] {
        var merged: [Entry] = []
        var index: [String: Int] = [:]
        for (listIndex, list) in lists.enumerated() {
            for entry in list {
                if let at = index[key(entry)] {
                    combine(&merged[at], entry)
                    continue
                }
                index[key(entry)] = merged.count
                var first = entry
                first[keyPath: primary] = listIndex == 0 && entry[keyPath: primary]
                merged.append(first)
            }
        }
        if !merged.isEmpty, !merged.contains(where: { $0[keyPath: primary] }) { merged[0][keyPath: primary] = true }
        return merged
    }

    /// The consent of one address held twice: an opt-out wins, else the first recorded one.
    private static func consent(_ first: String, _ second: String) -> String {
        if first == Validation.consentOptedOut || second == Validation.consentOptedOut {
            return Validation.consentOptedOut
        }
        return first == Validation.consentNotSet ? second : first
    }
}
