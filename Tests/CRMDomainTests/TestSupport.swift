import CRMDomain
import CRMJSON
import CRMRPC
import CRMTesting
import Testing

/// Given events / when command / then events-or-rejection, over ``InMemoryDecisionState``.
///
/// `given` runs a command (or raw events) and folds the resulting events with ``DecisionEvolver``;
/// `when` decides a command without folding it, so the test can inspect the decision.
final class Harness {
    /// The decision state all commands see.
    let state = InMemoryDecisionState()
    /// Every event recorded so far.
    private(set) var recordedLog = InMemoryLog()
    /// Every event recorded so far.
    var log: [RecordedEvent] { self.recordedLog.events }
    /// The business time of the next command.
    var at: Int64 = Timestamp.parse("2025-03-07T15:30:00Z")!
    private var generated = 0

    /// The context of the next command, with a fresh generated id `gen-N`.
    func nextContext() -> CommandContext {
        self.generated += 1
        return CommandContext(at: self.at, generatedID: "gen-\(self.generated)")
    }

    /// Runs `command` with `params` and records its events; the command must succeed.
    @discardableResult
    func given<C: DomainCommand & ParamsDecodable>(_ command: C.Type, _ params: JSON) throws -> Decision {
        let decision = try C(params: params).decide(self.state, self.nextContext())
        try self.record(decision.events)
        return decision
    }

    /// Records raw events as if a command had produced them.
    func record(_ events: [NewEvent]) throws {
        for recorded in self.recordedLog.record(events, at: self.at) {
            try DecisionEvolver.apply(recorded, to: self.state)
        }
    }

    /// Stores a customer record directly (for states no command produces yet, such as merged).
    func put(_ customer: CustomerState) {
        self.state.setRecord(.customers, customer.id, customer.encoded())
    }

    /// Parses and decides `command`; nothing is recorded.
    func when<C: DomainCommand & ParamsDecodable>(_ command: C.Type, _ params: JSON) throws -> Decision {
        try C(params: params).decide(self.state, self.nextContext())
    }

    /// Parses and decides `command` and returns its rejection, or `nil` when it succeeded.
    func rejection<C: DomainCommand & ParamsDecodable>(_ command: C.Type, _ params: JSON) -> Rejection? {
        do {
            _ = try self.when(command, params)
            return nil
        } catch let rejection as Rejection {
            return rejection
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    /// The stored customer `id`.
    func customer(_ id: String) throws -> CustomerState {
        try #require(try self.state.customer(id))
    }
}

/// A rejection case for parameterized tests: params, expected reason and field.
struct RejectionCase: Sendable, CustomTestStringConvertible {
    /// What the case checks.
    let name: String
    /// The command params.
    let params: JSON
    /// The expected reason.
    let reason: Reason
    /// The expected field path (`nil` for none).
    let field: String?

    init(_ name: String, _ params: JSON, _ reason: Reason, _ field: String?) {
        self.name = name
        self.params = params
        self.reason = reason
        self.field = field
    }

    var testDescription: String { self.name }
}

/// Checks that `rejection` has `reason` and `field`.
func expectRejection(
    _ rejection: Rejection?,
    _ reason: Reason,
    field: String?,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let rejection else {
        Issue.record("expected \(reason.rawValue) but the command succeeded", sourceLocation: sourceLocation)
        return
    }
    #expect(rejection.reason == reason, "\(rejection)", sourceLocation: sourceLocation)
    #expect(rejection.field == field, "\(rejection)", sourceLocation: sourceLocation)
}

/// Params that create customer `id` with one email and one phone.
func adaParams(_ id: String = "c1", email: String = "ada@example.com") -> JSON {
    [
        "customer_id": .string(id), "first_name": "Ada", "last_name": "Lovelace",
        "emails": [["address": .string(email)]], "phones": [["number": "+44 20 7946 0958", "type": "office"]],
    ]
}
