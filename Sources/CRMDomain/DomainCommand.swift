/// The named tables of decision state: what `decide` needs to check invariants, kept per stream and
/// maintained inline from the events.
public enum StateTable: String, Sendable, CaseIterable {
    /// customer id → encoded `CustomerState` without its personal values.
    case customers
    /// customer id → the customer's personal values (names, contact points, address, custom fields).
    case customerPersonal = "customer_personal"
    /// lower-cased email address → id of the active customer holding it.
    case emails
    /// activity id → marker, so a client-supplied `activity_id` cannot be reused.
    case activities
    /// Sales: pipeline id → encoded pipeline definition (all versions needed by decide).
    case pipelines
    /// Sales: deal id → encoded deal state, without its name.
    case deals
    /// Sales: deal id → the deal's name (personal data, so a record of its own).
    case dealNames = "deal_names"
    /// Sales: any further per-key state the sales commands need.
    case sales
    /// Service: schedule id → encoded schedule (versions).
    case schedules
    /// Service: SLA policy id → encoded policy (versions).
    case slaPolicies = "sla_policies"
    /// Service: ticket id → encoded ticket state.
    case tickets
    /// Service: any further per-key state the service commands need.
    case service
    /// Erasures: customer id → encoded ``CustomerErasure`` (which keys it destroyed), for the key
    /// store's repair at start-up and `customer.erasure_status`.
    case erasures
    /// The blocklist: keyed hash of an erased customer's email address → that customer's id.
    case erasedEmails = "erased_emails"
    /// customer id, `0x00`, kind (`d` deal, `t` ticket, `a` activity), `0x00`, record id → empty: the
    /// records that name a customer (``CustomerLink``), which a merge moves to its primary.
    case customerLinks = "customer_links"
    /// Orders: order id → encoded ``OrderState`` (whose, amount, refunded, cancelled).
    case orders
}

/// Read access to decision state. The daemon implements it over LMDB inside the command's
/// transaction; tests use ``InMemoryDecisionState``.
public protocol DecisionState {
    /// The stored bytes of `key` in `table`, or `nil`.
    func record(_ table: StateTable, _ key: String) throws -> [UInt8]?

    /// The keys of `table` that start with `prefix`, in byte order. Only for tables whose keys are
    /// stored as given (not the keyed-hash email index).
    func keys(_ table: StateTable, prefix: String) throws -> [String]

    /// The active SLA policies, which `load` reads from their rows. Every ticket command needs them, so
    /// a state may answer from a cache of its own, as long as it can tell that the stored policies are
    /// those it cached (the daemon's writer keys its cache by a fingerprint of every policy row it has
    /// written). The default calls `load`.
    func activeSlaPolicies(load: () throws -> [SlaPolicy]) throws -> [SlaPolicy]

    /// The keyed hash (hex) that stands for a personal value — an email address or a phone number in
    /// its comparison form — in what erasure keeps: the blocklist of erased addresses and the record of
    /// an erasure. `nil` when the log keeps personal data in plain text, where nothing can be erased.
    func keyedHash(_ value: String) -> String?

    /// Whether the log encrypts personal data (so that destroying keys erases it).
    var encryptsPersonalData: Bool { get }

    /// A digest (hex) of an email address in its comparison form for a log that keeps personal data in
    /// plain text, where there is no key for ``keyedHash(_:)``: campaigns name the address they sent to
    /// by it, never by the address itself.
    func plainAddressHash(_ key: String) -> String
}

extension DecisionState {
    /// Reads the active SLA policies with `load` every time.
    public func activeSlaPolicies(load: () throws -> [SlaPolicy]) throws -> [SlaPolicy] {
        try load()
    }
}

/// Write access to decision state, used only to fold events into it.
public protocol DecisionStateStore: DecisionState {
    /// Stores `value` for `key`, or removes the key when `value` is `nil`.
    func setRecord(_ table: StateTable, _ key: String, _ value: [UInt8]?) throws
}

/// What a successful `decide` returns: the events to append and extra result members for the reply
/// (for example the generated `customer_id`).
public struct Decision: Sendable, Hashable {
    public var events: [NewEvent]
    /// The record the command created or changed.
    public var result: CommandResult

    public init(events: [NewEvent], result: CommandResult) {
        self.events = events
        self.result = result
    }
}

/// What a successful command reports besides its events: the record it created or changed, and for a
/// versioned definition the version it now has. The reply shows it as `{"<kind>_id": id}` plus
/// `version`.
public struct CommandResult: Sendable, Hashable {
    /// The kinds of records commands create or change.
    public enum Record: String, Sendable, Hashable, CaseIterable {
        case customer, activity, deal, ticket, pipeline, schedule, order, model, settings, snapshot, survey, request
        case segment, list, campaign
        case slaPolicy = "policy"
    }

    public var record: Record
    public var id: String
    /// The definition's version (pipelines, schedules, SLA policies).
    public var version: Int64?

    public init(_ record: Record, _ id: String, version: Int64? = nil) {
        self.record = record
        self.id = id
        self.version = version
    }
}

/// A command of the CRM domain: a plain value with typed fields, decided against current state. The
/// RPC edge builds it from a request's params (checking everything that does not depend on state);
/// the metadata every command shares (`command_id`, `expected_version`, `at`, …) travels beside it.
public protocol DomainCommand: Sendable {
    /// The name clients call it by, e.g. `customer.create`.
    static var method: String { get }

    /// The stream an `expected_version` refers to (the command's aggregate), or `nil`.
    func targetStream(_ context: CommandContext) -> String?

    /// Decides the command against current state: events to append, or a thrown ``Rejection``.
    /// Pure apart from reading `state`. Other thrown errors are storage failures.
    func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision
    /// Versions of further streams the client stated in the command's own params (a merge's
    /// `expected_versions`), checked like `expected_version` before `decide`.
    func expectedStreamVersions() -> [ExpectedStreamVersion]
    /// The log head the command was computed against (a command built from a read snapshot), checked
    /// before `decide`: another head is `version_conflict` (field `based_on_seq`).
    func expectedHead() -> UInt64?
}

extension DomainCommand {
    /// None.
    public func expectedStreamVersions() -> [ExpectedStreamVersion] { [] }

    /// None.
    public func expectedHead() -> UInt64? { nil }
}

/// A version a stream must be at for a command to run, stated by a parameter of the command.
public struct ExpectedStreamVersion: Sendable, Hashable {
    public var stream: String
    public var version: UInt64
    /// The parameter that stated it (the rejection's `field`), e.g. `expected_versions.c2`.
    public var field: String

    public init(stream: String, version: UInt64, field: String) {
        self.stream = stream
        self.version = version
        self.field = field
    }
}
