import CRMDomain
import CRMJSON
@testable import CRMProjections
import LMDB
import Testing

@Suite("Customer profile queries")
struct CustomerProfileQueryTests {
    @Test func timelinePagesNewestFirstWithoutGapsOrDuplicates() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", at: "2025-03-07T15:30:00.000Z")
        // A customer whose id extends c1's must never leak into c1's pages.
        try harness.create("c10", at: "2025-03-07T15:30:00.000Z")
        try harness.logActivity("x", type: "note", customers: ["c10"], occurredAt: "2025-03-20T00:00:00.000Z")
        // Activities at equal times (ordered by seq), and one dated before 1970 (negative ms).
        let times = [
            "2025-03-10T09:00:00.000Z", "2025-03-08T09:00:00.000Z", "2025-03-10T09:00:00.000Z",
            "1969-12-31T23:59:59.000Z", "2025-03-09T09:00:00.000Z", "2025-03-10T09:00:00.000Z",
            "2025-03-07T15:30:00.000Z",
        ]
        var expected: [(at: Int64, seq: Int64)] = [(Timestamp.parse("2025-03-07T15:30:00.000Z")!, 1)]
        for (index, time) in times.enumerated() {
            let event = try harness.logActivity("a\(index)", type: "task", customers: ["c1"], occurredAt: time)
            expected.append((Timestamp.parse(time)!, Int64(event.seq)))
        }
        expected.sort { $0.at != $1.at ? $0.at > $1.at : $0.seq > $1.seq }

        var collected: [JSON] = []
        var before: JSON = nil
        var pages = 0
        repeat {
            var params: JSON = ["customer_id": "c1", "limit": 3]
            if !before.isNull { params["before"] = before }
            let page = try harness.query("customer.timeline", params)
            let entries = try #require(page["entries"]?.arrayValue)
            #expect(entries.count <= 3)
            collected += entries
            before = page["next_before"] ?? nil
            pages += 1
        } while !before.isNull && pages < 10
        #expect(pages == 3)
        #expect(collected.count == 8)
        #expect(collected.map { $0["seq"]?.intValue ?? -1 } == expected.map(\.seq))
        #expect(collected.map { $0["at"]?.stringValue ?? "" } == expected.map { Timestamp.format($0.at) })
        #expect(collected.contains { $0["ref_id"] == "x" } == false)

        // An exact page boundary: the last page reports no further cursor.
        let all = try harness.query("customer.timeline", ["customer_id": "c1", "limit": 8])
        #expect(all["entries"]?.arrayValue?.count == 8)
        #expect(all["next_before"] == nil as JSON)
        let firstPage = try harness.query("customer.timeline", ["customer_id": "c1", "limit": 7])
        #expect(firstPage["next_before"]?.stringValue != nil)
        let lastPage = try harness.query(
            "customer.timeline",
            ["customer_id": "c1", "limit": 7, "before": firstPage["next_before"]!]
        )
        #expect(lastPage["entries"]?.arrayValue?.count == 1)
        #expect(lastPage["next_before"] == nil as JSON)
    }

    @Test func aTimelinePageIsWrittenAsItsCanonicalSerialization() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", at: "2025-03-07T15:30:00.000Z")
        try harness.append(
            "CustomerUpdated", stream: "customer-c1", at: "2025-03-08T10:00:00.000Z",
            data: ["customer_id": "c1", "changed_fields": ["tier"], "changes": ["tier": ["from": nil, "to": "gold"]]]
        )
        for index in 0..<3 {
            try harness.logActivity("a\(index)", type: "call", customers: ["c1"], occurredAt: "2025-03-09T09:00:00.000Z")
        }
        let query = try #require(harness.projector.queries["customer.timeline"])
        for limit: Int64 in [2, 10] {
            let page = try harness.environment.read { txn in
                try query(["customer_id": "c1", "limit": .int(limit)], txn)
            }
            guard case .serialized(let text) = page else {
                Issue.record("the page is not written out: \(page)")
                continue
            }
            #expect(text.bytes == page.materialized.serialized())
            #expect(page.materialized["entries"]?.arrayValue?.count == min(Int(limit), 5))
            #expect(page.materialized["next_before"]?.isNull == (limit == 10))
            // The entry with extra members (`changes`) is there, in key order like the others.
            #expect(page.materialized["entries"]?.arrayValue?.contains { $0["changes"] != nil } == (limit == 10))
        }
    }

    @Test func timelineOfACustomerWithoutEntriesIsEmpty() throws {
        let harness = try ProfileHarness()
        try harness.create("c1")
        let page = try harness.query("customer.timeline", ["customer_id": "c1", "before": "-5:0"])
        #expect(page == ["entries": [], "next_before": nil])
    }

    @Test func findPagesTagsAndPhonesByCustomerID() throws {
        let harness = try ProfileHarness()
        for id in ["c5", "c1", "c3", "c2", "c4"] {
            try harness.create(id, phones: [("+1 555 0100 999", "+15550100999")], tags: ["vip"])
        }
        try harness.create("c6", phones: [("+1 555 0100 998", "+15550100998")], tags: ["vipx", "other"])

        var ids: [String] = []
        var after: JSON = nil
        var pages = 0
        repeat {
            var params: JSON = ["tag": "vip", "limit": 2]
            if !after.isNull { params["after"] = after }
            let result = try harness.query("customer.find", params)
            ids += (result["customers"]?.arrayValue ?? []).compactMap { $0["customer_id"]?.stringValue }
            after = result["next_after"] ?? nil
            pages += 1
        } while !after.isNull && pages < 10
        #expect(ids == ["c1", "c2", "c3", "c4", "c5"])
        #expect(pages == 3)

        let phonePage = try harness.query("customer.find", ["phone": "+1 (555) 0100-999", "limit": 4])
        #expect(phonePage["next_after"] == "c4")
        #expect(try harness.findIDs(["phone": "+1 (555) 0100-999", "after": "c4"]) == ["c5"])
        #expect(try harness.findIDs(["phone": "15550100999"]) == [])
        #expect(try harness.findIDs(["tag": "nothing"]) == [])
        #expect(try harness.findIDs(["email": "nobody@example.com"]) == [])

        let single = try harness.query("customer.find", ["tag": "other"])
        #expect(single["next_after"] == nil as JSON)
        #expect(single["customers"] == [try harness.profile("c6")])
    }

    @Test func getReturnsTheStoredDocument() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", emails: ["a@example.com"])
        let byGet = try harness.query("customer.get", ["customer_id": "c1"])
        let byFind = try harness.query("customer.find", ["email": "a@example.com"])
        #expect(byFind["customers"] == [byGet])
        #expect(byFind["next_after"] == nil as JSON)
    }

    @Test func getAndFindRenderTheStoredRow() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", emails: ["a@example.com"])
        let (get, find, stored, storedPersonal, storedStats) = try harness.environment.read { txn in
            (
                try harness.projector.queries["customer.get"]!(["customer_id": "c1"], txn),
                try harness.projector.queries["customer.find"]!(["email": "a@example.com"], txn),
                try txn.get(harness.projector.profiles, "c1"),
                try txn.get(harness.projector.profiles, ProfileKeys.personalKey("c1")),
                try txn.get(harness.projector.profiles, ProfileKeys.statsKey("c1"))
            )
        }
        let bytes = try #require(stored)
        let personal = try #require(storedPersonal)
        let profile = try CustomerProfile(decoding: bytes, personal: personal, what: "profile of customer c1")
        #expect(personal.first == CustomerProfile.personalRowFormat, "the personal row is a row of its own")
        let stats = try ProfileStats(decoding: try #require(storedStats), what: "stats of customer c1")
        #expect(bytes.first == CustomerProfile.rowFormat, "a profile row starts with its format byte")
        #expect(get.serialized() == profile.document(stats).serialized())
        #expect(find["customers"] == [get])
        #expect(get.materialized["customer_id"] == "c1")
    }

    @Test func aMergedProfileIsRejectedWithItsTarget() throws {
        let harness = try ProfileHarness()
        try harness.create("c1")
        var profile = try harness.environment.read { txn in
            try CustomerProfile(
                decoding: try #require(try txn.get(harness.projector.profiles, "c1")), personal: nil, what: "c1"
            )
        }
        profile.state = "merged"
        profile.mergedInto = "c2"
        try harness.environment.write { txn in try txn.put(harness.projector.profiles, "c1", profile.encodedPlain()) }
        let rejection = rejection { _ = try harness.query("customer.get", ["customer_id": "c1"]) }
        #expect(rejection?.reason == .customerMerged)
        #expect(rejection?.field == "customer_id")
        #expect(rejection?.details == ["merged_into": "c2"])
    }

    struct BadQuery: Sendable, CustomTestStringConvertible {
        let method: String
        let params: JSON?
        let reason: Reason
        let field: String?
        var testDescription: String { "\(self.method) \(self.params.map(\.description) ?? "nil")" }
    }

    static let badQueries: [BadQuery] = [
        BadQuery(method: "customer.get", params: nil, reason: .missingField, field: "customer_id"),
        BadQuery(method: "customer.get", params: [:], reason: .missingField, field: "customer_id"),
        BadQuery(method: "customer.get", params: ["customer_id": "nope"], reason: .notFound, field: "customer_id"),
        BadQuery(method: "customer.get", params: ["customer_id": 5], reason: .invalidField, field: "customer_id"),
        BadQuery(
            method: "customer.get",
            params: ["customer_id": "bad id"],
            reason: .invalidField,
            field: "customer_id"
        ),
        BadQuery(method: "customer.get", params: ["customer_id": "c1", "x": 1], reason: .invalidField, field: "x"),
        BadQuery(method: "customer.get", params: ["c1"], reason: .invalidField, field: "params"),
        BadQuery(method: "customer.find", params: [:], reason: .missingField, field: "email"),
        BadQuery(method: "customer.find", params: ["limit": 5], reason: .missingField, field: "email"),
        BadQuery(
            method: "customer.find",
            params: ["email": "a@example.com", "tag": "vip"],
            reason: .invalidField,
            field: "tag"
        ),
        BadQuery(
            method: "customer.find",
            params: ["phone": "+15550100999", "tag": "vip"],
            reason: .invalidField,
            field: "tag"
        ),
        BadQuery(
            method: "customer.find",
            params: ["tag": "vip", "colour": "red"],
            reason: .invalidField,
            field: "colour"
        ),
        BadQuery(method: "customer.find", params: ["tag": "vip", "limit": 0], reason: .invalidField, field: "limit"),
        BadQuery(method: "customer.find", params: ["tag": "vip", "limit": 201], reason: .invalidField, field: "limit"),
        BadQuery(
            method: "customer.find",
            params: ["tag": "vip", "limit": "10"],
            reason: .invalidField,
            field: "limit"
        ),
        BadQuery(
            method: "customer.find",
            params: ["tag": "vip", "after": "no way"],
            reason: .invalidField,
            field: "after"
        ),
        BadQuery(
            method: "customer.find",
            params: ["email": "a@example.com", "after": "c1"],
            reason: .invalidField,
            field: "after"
        ),
        BadQuery(method: "customer.find", params: ["email": "   "], reason: .invalidField, field: "email"),
        BadQuery(method: "customer.find", params: ["tag": ""], reason: .invalidField, field: "tag"),
        BadQuery(method: "customer.find", params: ["phone": "call me"], reason: .invalidPhone, field: "phone"),
        BadQuery(method: "customer.find", params: ["email": 42], reason: .invalidField, field: "email"),
        BadQuery(method: "customer.timeline", params: [:], reason: .missingField, field: "customer_id"),
        BadQuery(method: "customer.timeline", params: ["customer_id": "nope"], reason: .notFound, field: "customer_id"),
        BadQuery(
            method: "customer.timeline",
            params: ["customer_id": "c1", "before": "yesterday"],
            reason: .invalidField,
            field: "before"
        ),
        BadQuery(
            method: "customer.timeline",
            params: ["customer_id": "c1", "before": "1:2:3"],
            reason: .invalidField,
            field: "before"
        ),
        BadQuery(
            method: "customer.timeline",
            params: ["customer_id": "c1", "before": 17],
            reason: .invalidField,
            field: "before"
        ),
        BadQuery(
            method: "customer.timeline",
            params: ["customer_id": "c1", "limit": -1],
            reason: .invalidField,
            field: "limit"
        ),
        BadQuery(
            method: "customer.timeline",
            params: ["customer_id": "c1", "limit": 1000],
            reason: .invalidField,
            field: "limit"
        ),
        BadQuery(
            method: "customer.timeline",
            params: ["customer_id": "c1", "after": "x"],
            reason: .invalidField,
            field: "after"
        ),
    ]

    @Test(arguments: Self.badQueries)
    func rejectsBadParams(_ bad: BadQuery) throws {
        let harness = try ProfileHarness()
        try harness.create("c1", emails: ["a@example.com"], tags: ["vip"])
        let rejected = rejection { _ = try harness.query(bad.method, bad.params) }
        #expect(rejected?.reason == bad.reason)
        #expect(rejected?.field == bad.field)
    }

    @Test func limitsAtTheEdgesAreAccepted() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", tags: ["vip"])
        #expect(try harness.findIDs(["tag": "vip", "limit": 1]) == ["c1"])
        #expect(try harness.findIDs(["tag": "vip", "limit": 200]) == ["c1"])
        let page = try harness.query("customer.timeline", ["customer_id": "c1", "limit": 200, "before": nil])
        #expect(page["entries"]?.arrayValue?.count == 1)
    }
}
