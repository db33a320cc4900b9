// Static lists: customers added by hand, or a snapshot of a segment's members at an instant. Lists
// have no time-driven behaviour: membership at any instant is a plain fold of their events.

/// Where a snapshot list's members came from.
public struct ListSource: Sendable, Hashable {
    public var segmentID: String
    /// The segment version evaluated (set once computed).
    public var version: Int64?
    /// The instant the segment was evaluated at (UTC milliseconds).
    public var asOf: Int64

    public init(segmentID: String, version: Int64?, asOf: Int64) {
        self.segmentID = segmentID
        self.version = version
        self.asOf = asOf
    }
}

/// `ListCreated{list_id, name, kind, source, members}` (stream `list-<id>`).
public struct ListCreated: Sendable, Hashable {
    public var listID: String
    public var name: String
    /// `manual` or `snapshot`.
    public var kind: String
    public var source: ListSource?
    /// Customer ids, sorted and unique.
    public var members: [String]

    public init(listID: String, name: String, kind: String, source: ListSource?, members: [String]) {
        self.listID = listID
        self.name = name
        self.kind = kind
        self.source = source
        self.members = members
    }
}

/// `ListMembersChanged{list_id, added, removed}`: only real changes, each sorted.
public struct ListMembersChanged: Sendable, Hashable {
    public var listID: String
    public var added: [String]
    public var removed: [String]

    public init(listID: String, added: [String], removed: [String]) {
        self.listID = listID
        self.added = added
        self.removed = removed
    }
}

/// Keys of list state in the `service` table.
enum ListKeys {
    static func list(_ id: String) -> String { "list:" + id }
    static func member(_ listID: String, _ customerID: String) -> String {
        "listmember:" + listID + "\u{0}" + customerID
    }
    /// The lists a customer is on: `customerlists:<customer>\0<list>`.
    static func customerPrefix(_ customerID: String) -> String { "customerlists:" + customerID + "\u{0}" }
}

/// At most this many customer ids in one `list.create` (manual) or `list.add`/`list.remove`.
public enum ListLimits {
    public static let idsPerCommand = 1000
}

extension DecisionState {
    /// Rejects an unknown list with `unknown_list`.
    func requireList(_ id: String) throws {
        guard try self.record(.service, ListKeys.list(id)) != nil else {
            throw Rejection(
                .unknownList, field: "list_id", "list \(id) does not exist", details: ["list_id": .string(id)])
        }
    }

    /// Checks that every id names an active customer: unknown ids are one `not_found` listing them all
    /// (`details.ids`); a merged or erased one is `customer_merged` / `customer_erased`.
    func requireActiveCustomers(_ ids: [String], field: String) throws {
        var unknown: [String] = []
        for id in ids {
            guard try self.customer(id, personal: false) != nil else {
                unknown.append(id)
                continue
            }
            _ = try self.activeCustomer(id, field: field, personal: false)
        }
        guard unknown.isEmpty else {
            throw Rejection(
                .notFound, field: field, "\(unknown.count) customer ids do not exist",
                details: ["ids": .strings(unknown)]
            )
        }
    }
}

extension MarketingEvolver {
    static func apply(list event: MarketingEvent, to store: any DecisionStateStore) throws {
        switch event {
        case .listCreated(let created):
            try store.setRecord(.service, ListKeys.list(created.listID), Array(created.kind.utf8))
            for id in created.members { try Self.setMember(created.listID, id, true, store) }
        case .listMembersChanged(let changed):
            for id in changed.added { try Self.setMember(changed.listID, id, true, store) }
            for id in changed.removed { try Self.setMember(changed.listID, id, false, store) }
        default:
            return
        }
    }

    static func setMember(_ listID: String, _ customerID: String, _ member: Bool, _ store: any DecisionStateStore)
        throws
    {
        try store.setRecord(.service, ListKeys.member(listID, customerID), member ? [] : nil)
        try store.setRecord(.service, ListKeys.customerPrefix(customerID) + listID, member ? [] : nil)
    }

    /// A merged or erased customer leaves every static list; a merged one's place goes to `joining`,
    /// the survivor.
    static func leaveLists(_ customerID: String, joining: String?, _ store: any DecisionStateStore) throws {
        let prefix = ListKeys.customerPrefix(customerID)
        for key in try store.keys(.service, prefix: prefix) {
            let listID = String(key.dropFirst(prefix.count))
            try Self.setMember(listID, customerID, false, store)
            if let joining { try Self.setMember(listID, joining, true, store) }
        }
    }
}

/// `list.create {list_id, name, kind, customer_ids? | from_segment + as_of?}`. A snapshot list's
/// members are computed off the writer from the segment read model on a read snapshot (holding every
/// command sent before it on the same connection) and stated here.
public struct CreateList: DomainCommand {
    public static let method = "list.create"

    public let listID: String
    public let name: String
    /// `manual` or `snapshot`.
    public let kind: String
    public let source: ListSource?
    public let members: [String]

    public init(
        listID: String, name: String, kind: String, source: ListSource?, members: [String]
    ) {
        self.listID = listID
        self.name = name
        self.kind = kind
        self.source = source
        self.members = Array(Set(members)).sorted()
    }

    /// The snapshot command with its members computed: the segment's `version` at `asOf`.
    public func computed(version: Int64, asOf: Int64, members: [String]) -> CreateList {
        CreateList(
            listID: self.listID, name: self.name, kind: self.kind,
            source: self.source.map { ListSource(segmentID: $0.segmentID, version: version, asOf: asOf) },
            members: members
        )
    }

    public func targetStream(_ context: CommandContext) -> String? { "list-" + self.listID }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        if try state.record(.service, ListKeys.list(self.listID)) != nil {
            throw Rejection(
                .alreadyExists, field: "list_id", "list \(self.listID) already exists",
                details: ["id": .string(self.listID)]
            )
        }
        if let source = self.source {
            _ = try state.existingSegment(source.segmentID, field: "from_segment")
        } else {
            try state.requireActiveCustomers(self.members, field: "customer_ids")
        }
        let created = ListCreated(
            listID: self.listID, name: self.name, kind: self.kind, source: self.source, members: self.members
        )
        return Decision(
            events: [NewEvent(.marketing(.listCreated(created)), stream: "list-" + self.listID)],
            result: CommandResult(.list, self.listID)
        )
    }
}

/// `list.add {list_id, customer_ids}`: adds customers; only those not on the list yet are written.
public struct AddToList: DomainCommand {
    public static let method = "list.add"

    public let listID: String
    public let customerIDs: [String]

    public init(listID: String, customerIDs: [String]) {
        self.listID = listID
        self.customerIDs = Array(Set(customerIDs)).sorted()
    }

    public func targetStream(_ context: CommandContext) -> String? { "list-" + self.listID }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        try ListChange.decide(self.listID, self.customerIDs, adding: true, state)
    }
}

/// `list.remove {list_id, customer_ids}`: removes customers; only those on the list are written.
public struct RemoveFromList: DomainCommand {
    public static let method = "list.remove"

    public let listID: String
    public let customerIDs: [String]

    public init(listID: String, customerIDs: [String]) {
        self.listID = listID
        self.customerIDs = Array(Set(customerIDs)).sorted()
    }

    public func targetStream(_ context: CommandContext) -> String? { "list-" + self.listID }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        try ListChange.decide(self.listID, self.customerIDs, adding: false, state)
    }
}

enum ListChange {
    /// `ListMembersChanged` with the real changes of adding or removing `ids`, or nothing.
    static func decide(_ listID: String, _ ids: [String], adding: Bool, _ state: any DecisionState) throws -> Decision {
        try state.requireList(listID)
        try state.requireActiveCustomers(ids, field: "customer_ids")
        var changed: [String] = []
        for id in ids where (try state.record(.service, ListKeys.member(listID, id)) != nil) != adding {
            changed.append(id)
        }
        let result = CommandResult(.list, listID)
        guard !changed.isEmpty else { return Decision(events: [], result: result) }
        let event = ListMembersChanged(listID: listID, added: adding ? changed : [], removed: adding ? [] : changed)
        return Decision(
            events: [NewEvent(.marketing(.listMembersChanged(event)), stream: "list-" + listID)], result: result)
    }
}
