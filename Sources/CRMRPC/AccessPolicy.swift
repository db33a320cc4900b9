public import CRMJSON

/// Who may call what: roles granted to socket peers by uid or gid.
///
/// - `read`: queries of the read models and `system.*`.
/// - `audit`: `read` plus history (`events.read`, `customer.history`, `audit.verify`,
///   `audit.checkpoints`); never writes.
/// - `write`: `read` plus every command.
/// - `admin`: everything, including `system.backup`, `projection.rebuild` and `customer.export`.
///
/// A peer gets the union of the roles of every rule matching its uid or one of its gids; with no
/// rules at all every peer is `admin` (the socket's file mode is then the only gate, as for a
/// single-user install). `system.ping` is open to every peer.
public struct AccessPolicy: Sendable, Hashable {
    /// A role.
    public enum Role: String, Sendable, Hashable, CaseIterable {
        case read, audit, write, admin
    }

    /// A grant of `roles` to a uid or a gid.
    public struct Rule: Sendable, Hashable {
        public var uid: UInt32?
        public var gid: UInt32?
        public var roles: Set<Role>

        public init(uid: UInt32? = nil, gid: UInt32? = nil, roles: Set<Role>) {
            self.uid = uid
            self.gid = gid
            self.roles = roles
        }
    }

    public var rules: [Rule]

    /// Every peer is admin.
    public static let open = AccessPolicy(rules: [])

    public init(rules: [Rule]) { self.rules = rules }

    /// The roles of a peer.
    public func roles(uid: UInt32, gid: UInt32) -> Set<Role> {
        guard !self.rules.isEmpty else { return [.admin] }
        var roles: Set<Role> = []
        for rule in self.rules where rule.uid == uid || rule.gid == gid { roles.formUnion(rule.roles) }
        return roles
    }

    /// Whether a peer with `roles` may call a method that needs `access`: `admin` may call everything,
    /// `write` every command, `audit` the history and the log, any role the other queries, and every
    /// peer `system.ping`.
    public static func allows(_ roles: Set<Role>, _ access: RPCMethod.Access) -> Bool {
        if roles.contains(.admin) { return true }
        switch access {
        case .anyone: return true
        case .read: return !roles.isDisjoint(with: [.read, .audit, .write])
        case .audit: return roles.contains(.audit)
        case .write: return roles.contains(.write)
        case .admin: return false
        }
    }

    /// Parses the config form: `[{"uid": 1000, "roles": ["write"]}, {"gid": 27, "roles": ["audit"]}]`.
    public init(json: JSON) throws(AccessPolicyError) {
        guard case .array(let entries) = json else { throw AccessPolicyError("access must be an array of rules") }
        var rules: [Rule] = []
        for (index, entry) in entries.enumerated() {
            guard case .object(let members) = entry else {
                throw AccessPolicyError("access[\(index)] must be an object")
            }
            for key in members.keys where !["uid", "gid", "roles"].contains(key) {
                throw AccessPolicyError("access[\(index)]: unknown key \"\(key)\"")
            }
            let uid = members["uid"]?.intValue.flatMap { UInt32(exactly: $0) }
            let gid = members["gid"]?.intValue.flatMap { UInt32(exactly: $0) }
            guard (uid == nil) != (gid == nil) else {
                throw AccessPolicyError("access[\(index)] needs exactly one of uid or gid (a number)")
            }
            guard case .array(let names)? = members["roles"], !names.isEmpty else {
                throw AccessPolicyError("access[\(index)].roles must be a non-empty array")
            }
            var roles: Set<Role> = []
            for name in names {
                guard let text = name.stringValue, let role = Role(rawValue: text) else {
                    throw AccessPolicyError("access[\(index)].roles: \(name) is not one of read, audit, write, admin")
                }
                roles.insert(role)
            }
            rules.append(Rule(uid: uid, gid: gid, roles: roles))
        }
        self.rules = rules
    }
}

/// An invalid access configuration.
public struct AccessPolicyError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
