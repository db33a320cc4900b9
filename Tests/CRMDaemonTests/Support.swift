import CRMJSON
import CRMProtocol
import CRMTesting
import Testing

/// What a test compares to prove that a rejected request changed nothing: the log head, the event
/// count and (optionally) one profile.
struct Snapshot: Equatable {
    var head: JSON?
    var eventCount: JSON?
    var profile: JSON?

    static func take(_ client: RPCClient, customer: String? = nil) async throws -> Snapshot {
        let stats = try await client.result("system.stats")
        var profile: JSON?
        if let customer { profile = try await client.result("customer.get", ["customer_id": .string(customer)]) }
        return Snapshot(head: stats["head"], eventCount: stats["event_count"], profile: profile)
    }
}

extension RPCClient {
    /// Creates a customer and returns its id.
    func createCustomer(_ params: JSON) async throws -> String {
        let result = try await self.result("customer.create", params)
        return try #require(result["customer_id"]?.stringValue)
    }
}
