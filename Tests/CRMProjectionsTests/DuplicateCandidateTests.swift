import CRMDomain
import CRMJSON
import Testing

@testable import CRMProjections

/// `customer.find_duplicates`: candidates by shared phone number or by the same name at the same
/// company, kept up to date as profiles change.
@Suite struct DuplicateCandidateTests {
    func candidates(_ harness: ProfileHarness, _ id: String, limit: Int? = nil) throws -> JSON {
        var params: JSON = ["customer_id": .string(id)]
        if let limit { params["limit"] = .int(Int64(limit)) }
        return try harness.query("customer.find_duplicates", params)
    }

    @Test func sharedPhonesAndTheSameNameAtTheSameCompanyAreCandidates() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", first: "Ada", last: "Lovelace", company: "Analytical Engines", phones: [("+44 20 1", "+44201")])
        try harness.create("c2", first: "ADA", last: " lovelace", company: "analytical  engines")
        try harness.create("c3", first: "Charles", last: "Babbage", phones: [("(+44) 20-1", "+44201")])
        try harness.create("c4", first: "Ada", last: "Lovelace", company: "Difference Engines")
        try harness.create("c5", first: "Ada", last: "Lovelace")
        let found = try self.candidates(harness, "c1")
        #expect(
            found["candidates"] == [
                ["customer_id": "c2", "reasons": ["name_company"], "phones": []],
                ["customer_id": "c3", "reasons": ["phone"], "phones": ["+44201"]],
            ]
        )
        #expect(found["truncated"] == false)
        #expect(try self.candidates(harness, "c3")["candidates"]?[0]?["customer_id"] == "c1")
        #expect(try self.candidates(harness, "c5")["candidates"] == [], "no company, no name match")
        let first = try self.candidates(harness, "c1", limit: 1)
        #expect(first["candidates"]?.arrayValue?.count == 1)
        #expect(first["truncated"] == true)
    }

    @Test func theIndexFollowsUpdates() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", first: "Ada", last: "Lovelace", company: "Engines")
        try harness.create("c2", first: "Ada", last: "Lovelace", company: "Engines")
        #expect(try self.candidates(harness, "c1")["candidates"]?.arrayValue?.count == 1)
        try harness.append(
            "CustomerUpdated",
            stream: "customer-c2",
            at: "2025-03-08T00:00:00.000Z",
            data: ["customer_id": "c2", "changed_fields": ["company_name"], "changes": [:]],
            pii: ["changes": ["company_name": ["from": "Engines", "to": "Looms"]]]
        )
        #expect(try self.candidates(harness, "c1")["candidates"] == [])
        #expect(try self.candidates(harness, "c2")["candidates"] == [])
    }

    @Test func badParamsAreRefused() throws {
        let harness = try ProfileHarness()
        try harness.create("c1")
        let missing = rejection { _ = try harness.query("customer.find_duplicates", [:]) }
        #expect(missing?.reason == .missingField)
        #expect(missing?.field == "customer_id")
        let unknown = rejection { _ = try harness.query("customer.find_duplicates", ["customer_id": "nobody"]) }
        #expect(unknown?.reason == .notFound)
        let limit = rejection { _ = try harness.query("customer.find_duplicates", ["customer_id": "c1", "limit": 0]) }
        #expect(limit?.field == "limit")
        let extra = rejection { _ = try harness.query("customer.find_duplicates", ["customer_id": "c1", "by": "x"]) }
        #expect(extra?.field == "by")
    }
}
