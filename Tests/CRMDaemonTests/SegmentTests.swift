import CRMDomain
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

/// Segments through the socket: the `lapsing_gold` worked example (intervals dated at the exact
/// computed instants), the property that membership at any instant equals a direct evaluation of the
/// filter on the profile as of that instant, redefinition and retirement, and rejections that write
/// nothing.
@Suite struct SegmentTests {
    static func members(_ client: RPCClient, _ segment: String, _ at: String, _ extra: JSON = [:]) async throws
        -> [String]
    {
        var params: JSON = ["segment_id": .string(segment), "as_of": .string(at), "limit": 1000]
        for (key, value) in extra.objectValue ?? [:] { params[key] = value }
        let result = try await client.result("segment.members", params)
        return result["members"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    @Test func theLapsingGoldWorkedExample() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.results([
            (
                "segment.define",
                [
                    "at": "2025-01-01T00:00:00Z", "segment_id": "lapsing_gold", "name": "Lapsing gold",
                    "filter": [
                        "all": [
                            ["field": "tier", "op": "eq", "value": "gold"],
                            ["field": "value.last_order_date", "op": "more_than_days_ago", "value": 60],
                        ]
                    ],
                ]
            ),
            (
                "customer.create",
                ["at": "2025-01-10T08:00:00Z", "customer_id": "G1", "first_name": "G", "tier": "gold"]
            ),
            (
                "order.record",
                [
                    "at": "2025-03-01T10:00:00Z", "order_id": "g1", "customer_id": "G1", "amount": "80.00",
                    "currency": "EUR",
                ]
            ),
            (
                "order.record",
                [
                    "at": "2025-05-10T14:00:00Z", "order_id": "g2", "customer_id": "G1", "amount": "120.00",
                    "currency": "EUR",
                ]
            ),
            ("order.refund", ["at": "2025-05-12T09:00:00Z", "order_id": "g2", "amount": "120.00"]),
            ("customer.update", ["at": "2025-06-01T09:00:00Z", "customer_id": "G1", "set": ["tier": "silver"]]),
        ])
        let history = try await client.result("segment.history", ["segment_id": "lapsing_gold", "customer_id": "G1"])
        #expect(
            history["intervals"]
                == [
                    ["version": 1, "entered_at": "2025-05-01T00:00:00.000Z", "exited_at": "2025-05-10T14:00:00.000Z"],
                    ["version": 1, "entered_at": "2025-05-12T09:00:00.000Z", "exited_at": "2025-06-01T09:00:00.000Z"],
                ])
        let expected: [(String, [String])] = [
            ("2025-04-30T23:59:59Z", []), ("2025-05-01T00:00:00Z", ["G1"]), ("2025-05-10T14:00:00Z", []),
            ("2025-05-12T09:00:00Z", ["G1"]), ("2025-06-01T09:00:00Z", []),
        ]
        for (instant, members) in expected {
            #expect(try await Self.members(client, "lapsing_gold", instant) == members, "\(instant)")
        }
        let before = try await client.error(
            "segment.members", ["segment_id": "lapsing_gold", "as_of": "2024-12-31T00:00:00Z"])
        #expect(
            before.reason == "unknown_segment" && before.data?["details"]?["defined_at"] == "2025-01-01T00:00:00.000Z")
        // The same after a rebuild of the read model from the log.
        _ = try await client.result("projection.rebuild", ["name": "segments"])
        _ = try await ProjectionLifecycleTests.waitUntilSettled(client)
        for (instant, members) in expected {
            #expect(try await Self.members(client, "lapsing_gold", instant) == members, "rebuilt \(instant)")
        }
        #expect(
            try await client.result("segment.history", ["segment_id": "lapsing_gold", "customer_id": "G1"]) == history)
    }

    @Test func redefinitionAndRetirementKeepEachVersionsHistory() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        func define(_ at: String, _ tier: String) -> (String, JSON) {
            (
                "segment.define",
                [
                    "at": .string(at), "segment_id": "tiered", "name": "By tier",
                    "filter": ["all": [["field": "tier", "op": "eq", "value": .string(tier)]]],
                ]
            )
        }
        let replies = try await client.results([
            ("customer.create", ["at": "2025-01-01T00:00:00Z", "customer_id": "a", "first_name": "A", "tier": "gold"]),
            (
                "customer.create",
                ["at": "2025-01-01T00:00:00Z", "customer_id": "b", "first_name": "B", "tier": "silver"]
            ),
            define("2025-02-01T00:00:00Z", "gold"),
            define("2025-03-01T00:00:00Z", "silver"),
            ("segment.retire", ["at": "2025-04-01T00:00:00Z", "segment_id": "tiered"]),
        ])
        #expect(replies[3]["version"] == 2)
        #expect(try await Self.members(client, "tiered", "2025-02-15T00:00:00Z") == ["a"])
        #expect(try await Self.members(client, "tiered", "2025-03-15T00:00:00Z") == ["b"])
        // What-if: the newest definition evaluated at an instant after it was defined.
        #expect(try await Self.members(client, "tiered", "2025-03-20T00:00:00Z", ["definition": "current"]) == ["b"])
        // Before the newest version was defined, that needs the log folded again up to the instant.
        let earlier = try await client.result(
            "segment.members", ["segment_id": "tiered", "as_of": "2025-02-15T00:00:00Z", "definition": "current"])
        #expect(earlier["members"] == ["b"] && earlier["cost"] == "replay" && earlier["version"] == 2)
        #expect(try await Self.members(client, "tiered", "2025-04-15T00:00:00Z") == [])
        let history = try await client.result("segment.history", ["segment_id": "tiered", "customer_id": "a"])
        #expect(
            history["intervals"]
                == [["version": 1, "entered_at": "2025-02-01T00:00:00.000Z", "exited_at": "2025-03-01T00:00:00.000Z"]])
        let get = try await client.result("segment.get", ["segment_id": "tiered"])
        #expect(get["retired"] == true && get["versions"]?.arrayValue?.count == 2)
        let preview = try await client.result(
            "segment.preview", ["filter": ["all": [["field": "tier", "op": "in", "value": ["gold", "silver"]]]]])
        #expect(preview["count"] == 2 && preview["sample"] == ["a", "b"])
    }

    @Test func rejectionsWriteNothing() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.results([
            ("customer.create", ["at": "2025-01-01T00:00:00Z", "customer_id": "a", "first_name": "A"]),
            (
                "segment.define",
                [
                    "segment_id": "s1", "name": "S1",
                    "filter": ["all": [["field": "tags", "op": "has", "value": "vip"]]],
                ]
            ),
            (
                "segment.define",
                [
                    "segment_id": "s2", "name": "S2",
                    "filter": ["all": [["field": "segment", "op": "member_of", "value": "s1"]]],
                ]
            ),
        ])
        let before = try await Snapshot.take(client, customer: "a")
        func condition(_ field: JSON, _ op: JSON, _ value: JSON = .null) -> JSON {
            ["segment_id": "x", "name": "X", "filter": ["all": [["field": field, "op": op, "value": value]]]]
        }
        let cases: [(JSON, String, String)] = [
            (condition("first_name", "eq", "Ada"), "personal_field", "filter.all[0].field"),
            (condition("custom.vat", "eq", "1"), "personal_field", "filter.all[0].field"),
            (condition("colour", "eq", "red"), "unknown_field", "filter.all[0].field"),
            (condition("rfm.x", "in", ["champions"]), "unknown_field", "filter.all[0].field"),
            (condition("rfm.r", "eq", 6), "bad_value", "filter.all[0].value"),
            (condition("tier", "gt", "gold"), "bad_operator", "filter.all[0].op"),
            (condition("value.orders", "gte", "three"), "bad_value", "filter.all[0].value"),
            (condition("lifecycle.stage", "at_least", "king"), "bad_value", "filter.all[0].value"),
            (condition("value.last_order_date", "before", "2025-13-01"), "bad_value", "filter.all[0].value"),
            (condition("tier", "is_set", "x"), "bad_value", "filter.all[0].value"),
            (["segment_id": "x", "name": "X", "filter": ["any": []]], "bad_value", "filter"),
            (
                [
                    "segment_id": "x", "name": "X",
                    "filter": [
                        "any": .array(Array(repeating: ["all": [["field": "tier", "op": "is_set"]]], count: 11))
                    ],
                ],
                "too_many", "filter.any"
            ),
            (
                [
                    "segment_id": "s1", "name": "S1",
                    "filter": ["all": [["field": "segment", "op": "member_of", "value": "s2"]]],
                ],
                "cycle", "filter.any[0].all[0].value"
            ),
        ]
        for (params, reason, path) in cases {
            let error = try await client.error("segment.define", params)
            #expect(error.reason == "invalid_filter" && error.field == "filter", "\(params)")
            #expect(error.code == RPCErrorCode.code(forReason: "invalid_filter"))
            #expect(error.data?["details"]?["reason"] == .string(reason), "\(params)")
            #expect(error.data?["details"]?["path"] == .string(path), "\(params)")
        }
        let unknown = try await client.error(
            "segment.define", condition("segment", "member_of", "nope"))
        #expect(unknown.reason == "unknown_segment" && unknown.code == RPCErrorCode.code(forReason: "unknown_segment"))
        #expect(try await client.error("segment.retire", ["segment_id": "nope"]).reason == "unknown_segment")
        #expect(try await client.error("segment.members", ["segment_id": "nope"]).reason == "unknown_segment")
        #expect(try await client.error("segment.members", ["segment_id": "s1", "as_of": 3]).field == "as_of")
        #expect(try await client.error("segment.members", ["segment_id": "s1", "limit": 1001]).field == "limit")
        #expect(try await Snapshot.take(client, customer: "a") == before)
    }

    @Test func staticListsManualAndSnapshot() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        var requests: [(String, JSON)] = []
        for (id, tier) in [("a", "gold"), ("b", "gold"), ("c", "silver"), ("d", "gold")] {
            requests.append(
                (
                    "customer.create",
                    [
                        "at": "2025-01-01T00:00:00Z", "customer_id": .string(id), "first_name": "X",
                        "tier": .string(tier),
                    ]
                ))
        }
        requests += [
            (
                "segment.define",
                [
                    "at": "2025-01-02T00:00:00Z", "segment_id": "gold", "name": "Gold",
                    "filter": ["all": [["field": "tier", "op": "eq", "value": "gold"]]],
                ]
            ),
            ("customer.update", ["at": "2025-01-05T00:00:00Z", "customer_id": "d", "set": ["tier": "silver"]]),
            (
                "list.create",
                [
                    "at": "2025-01-03T00:00:00Z", "list_id": "vip", "name": "VIP", "kind": "manual",
                    "customer_ids": ["c", "a", "a"],
                ]
            ),
            ("list.add", ["at": "2025-01-04T00:00:00Z", "list_id": "vip", "customer_ids": ["b", "c"]]),
            ("list.remove", ["at": "2025-01-06T00:00:00Z", "list_id": "vip", "customer_ids": ["a"]]),
            (
                "segment.define",
                [
                    "at": "2025-01-06T00:00:00Z", "segment_id": "gold_vip", "name": "Gold VIP",
                    "filter": [
                        "all": [
                            ["field": "list", "op": "member_of", "value": "vip"],
                            ["field": "segment", "op": "member_of", "value": "gold"],
                        ]
                    ],
                ]
            ),
            (
                "list.create",
                [
                    "at": "2025-01-07T00:00:00Z", "list_id": "gold-jan4", "name": "Gold on Jan 4", "kind": "snapshot",
                    "from_segment": "gold", "as_of": "2025-01-04T00:00:00Z",
                ]
            ),
        ]
        let replies = try await client.results(requests)
        #expect(replies[10]["list_id"] == "gold-jan4" && replies[10]["events"]?[0]?["type"] == "ListCreated")
        func list(_ id: String, _ at: String) async throws -> [String] {
            try await client.result("list.members", ["list_id": .string(id), "as_of": .string(at)])["members"]?
                .arrayValue?.compactMap(\.stringValue) ?? []
        }
        #expect(try await list("vip", "2025-01-03T12:00:00Z") == ["a", "c"])
        #expect(try await list("vip", "2025-01-05T00:00:00Z") == ["a", "b", "c"])
        #expect(try await list("vip", "2025-01-06T00:00:00Z") == ["b", "c"])
        #expect(try await list("gold-jan4", "2025-02-01T00:00:00Z") == ["a", "b", "d"], "the members of gold on Jan 4")
        let snapshot = try await client.result("list.get", ["list_id": "gold-jan4"])
        #expect(
            snapshot["kind"] == "snapshot" && snapshot["source"]?["segment_id"] == "gold"
                && snapshot["source"]?["version"] == 1)
        #expect(snapshot["source"]?["as_of"] == "2025-01-04T00:00:00.000Z")
        // A preview of an instant before later changes is answered from the log folded up to it.
        let past = try await client.result(
            "segment.preview",
            ["filter": ["all": [["field": "tier", "op": "eq", "value": "gold"]]], "as_of": "2025-01-04T00:00:00Z"])
        #expect(past["count"] == 3 && past["sample"] == ["a", "b", "d"] && past["cost"] == "replay")
        // A segment on list membership and another segment.
        #expect(try await Self.members(client, "gold_vip", "2025-01-06T00:00:00Z") == ["b"])
        // Adding members already on the list writes nothing; bad input writes nothing.
        let before = try await Snapshot.take(client)
        let again = try await client.result("list.add", ["list_id": "vip", "customer_ids": ["b"]])
        #expect(again["events"] == [] && again["list_id"] == "vip")
        let cases: [(String, JSON, String, String?)] = [
            ("list.add", ["list_id": "nope", "customer_ids": ["a"]], "unknown_list", "list_id"),
            ("list.add", ["list_id": "vip", "customer_ids": ["a", "zz", "yy"]], "not_found", "customer_ids"),
            ("list.add", ["list_id": "vip", "customer_ids": []], "missing_field", "customer_ids"),
            (
                "list.add", ["list_id": "vip", "customer_ids": .strings((0...1000).map { "c\($0)" })], "invalid_field",
                "customer_ids"
            ),
            (
                "list.create", ["list_id": "vip", "name": "V", "kind": "manual", "customer_ids": ["a"]],
                "already_exists", "list_id"
            ),
            ("list.create", ["list_id": "s", "name": "S", "kind": "snapshot"], "missing_field", "from_segment"),
            (
                "list.create", ["list_id": "s", "name": "S", "kind": "snapshot", "from_segment": "nope"],
                "unknown_segment", "from_segment"
            ),
            (
                "list.create", ["list_id": "s", "name": "S", "kind": "manual", "from_segment": "gold"], "invalid_field",
                "from_segment"
            ),
            ("list.members", ["list_id": "nope"], "unknown_list", "list_id"),
        ]
        for (method, params, reason, field) in cases {
            let error = try await client.error(method, params)
            #expect(error.reason == reason && error.field == field, "\(method) \(params)")
        }
        let missing = try await client.error("list.add", ["list_id": "vip", "customer_ids": ["a", "zz", "yy"]])
        #expect(missing.data?["details"]?["ids"] == ["zz", "yy"] || missing.data?["details"]?["ids"] == ["yy", "zz"])
        #expect(try await Snapshot.take(client) == before)
        // A merge moves a secondary's place on a list to the survivor; an erasure takes the customer off.
        _ = try await client.results([
            ("customer.merge", ["at": "2025-01-08T00:00:00Z", "primary_id": "d", "secondary_ids": ["c"]]),
            ("customer.erase", ["at": "2025-01-09T00:00:00Z", "customer_id": "b"]),
        ])
        #expect(try await list("vip", "2025-01-07T23:59:59Z") == ["b", "c"])
        #expect(try await list("vip", "2025-01-08T00:00:00Z") == ["b", "d"])
        #expect(try await list("vip", "2025-01-09T00:00:00Z") == ["d"])
        #expect(try await client.result("list.add", ["list_id": "vip", "customer_ids": ["d"]])["events"] == [])
    }

    /// RFM conditions read the latest snapshot and turn at its event: the members are exactly the buyers
    /// the value read model's `rfm.report` scores the same way.
    @Test func rfmConditionsTurnAtTheSnapshot() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        try await ValueTests.populate(client)
        _ = try await client.results([
            (
                "segment.define",
                [
                    "at": "2025-06-01T00:00:00Z", "segment_id": "recent", "name": "Recent",
                    "filter": ["all": [["field": "rfm.r", "op": "gte", "value": 4]]],
                ]
            ),
            (
                "segment.define",
                [
                    "at": "2025-06-01T00:00:00Z", "segment_id": "keep", "name": "Keep",
                    "filter": ["all": [["field": "rfm.segment", "op": "in", "value": ["champions", "cant_lose"]]]],
                ]
            ),
        ])
        #expect(try await Self.members(client, "recent", "2025-06-20T00:00:00Z") == [])
        _ = try await client.result(
            "rfm.snapshot", ["at": "2025-07-01T08:00:00Z", "as_of_date": "2025-06-30", "currency": "EUR"])
        let report = try await client.result("rfm.report", ["as_of_date": "2025-06-30", "currency": "EUR"])
        let rows = report["customers"]?.arrayValue ?? []
        let recent = rows.filter { ($0["r"]?.intValue ?? 0) >= 4 }.compactMap { $0["customer_id"]?.stringValue }
            .sorted()
        let keep = rows.filter { ["champions", "cant_lose"].contains($0["segment"]?.stringValue ?? "") }
            .compactMap { $0["customer_id"]?.stringValue }.sorted()
        #expect(!recent.isEmpty && !keep.isEmpty)
        #expect(try await Self.members(client, "recent", "2025-07-01T07:59:59Z") == [], "before the snapshot")
        #expect(try await Self.members(client, "recent", "2025-07-01T08:00:00Z") == recent)
        #expect(try await Self.members(client, "keep", "2025-07-02T00:00:00Z") == keep)
    }

    // MARK: - Property: membership equals a direct evaluation

    /// A generated history: operations on customers at increasing instants.
    enum Operation {
        case create(String, tier: String?, tags: [String])
        case tier(String, String?)
        case tag(String, String)
        case order(String, id: String)
        case refundAll(String, id: String)
        case cancel(String, id: String)
    }

    /// The filters checked, with a direct evaluation on the test's own model of a profile.
    static let filters: [(JSON, @Sendable (Model.Customer, Int64) -> Bool)] = [
        (
            [
                "all": [
                    ["field": "tier", "op": "eq", "value": "gold"],
                    ["field": "value.last_order_date", "op": "more_than_days_ago", "value": 20],
                ]
            ],
            { c, t in c.tier == "gold" && c.lastOrderDay(t).map { Model.day(t) - $0 > 20 } == true }
        ),
        (
            [
                "any": [
                    ["all": [["field": "tags", "op": "has", "value": "vip"]]],
                    ["all": [["field": "value.orders", "op": "gte", "value": 2]]],
                ]
            ],
            { c, t in c.tags.contains("vip") || c.counted(t).count >= 2 }
        ),
        (
            [
                "all": [
                    ["field": "value.status", "op": "in", "value": ["new", "active"]],
                    ["field": "created_at", "op": "within_last_days", "value": 45],
                ]
            ],
            { c, t in ["new", "active"].contains(c.status(t)) && Model.day(t) - Model.day(c.createdAt) <= 45 }
        ),
        (
            [
                "all": [
                    ["field": "tier", "op": "is_not_set"],
                    ["field": "value.first_order_date", "op": "within_last_days", "value": 10],
                ]
            ],
            { c, t in c.tier == nil && c.firstOrderDay(t).map { Model.day(t) - $0 <= 10 } == true }
        ),
    ]

    /// The test's own model: customers with their tier, tags and orders as of an instant.
    struct Model {
        struct Order {
            var at: Int64
            var refundedAt: Int64?
            var cancelledAt: Int64?
        }

        struct Customer {
            var createdAt: Int64
            var tier: String?
            var tags: Set<String>
            var orders: [Order]

            func counted(_ t: Int64) -> [Order] {
                self.orders.filter { $0.at <= t && ($0.refundedAt ?? .max) > t && ($0.cancelledAt ?? .max) > t }
            }
            func lastOrderDay(_ t: Int64) -> Int64? { self.counted(t).map { Model.day($0.at) }.max() }
            func firstOrderDay(_ t: Int64) -> Int64? { self.counted(t).map { Model.day($0.at) }.min() }
            func status(_ t: Int64) -> String {
                guard let first = self.firstOrderDay(t), let last = self.lastOrderDay(t) else { return "prospect" }
                let today = Model.day(t)
                if today - last > 180 { return "churned" }
                if today - first <= 90 { return "new" }
                return today - last <= 90 ? "active" : "inactive"
            }
        }

        static func day(_ millis: Int64) -> Int64 { millis / 86_400_000 }

        /// The customers as of `t`: the operations at or before it applied.
        static func customers(_ history: [(Int64, Operation)], at t: Int64) -> [String: Customer] {
            var customers: [String: Customer] = [:]
            for (at, operation) in history where at <= t {
                switch operation {
                case .create(let id, let tier, let tags):
                    customers[id] = Customer(createdAt: at, tier: tier, tags: Set(tags), orders: [])
                case .tier(let id, let tier): customers[id]?.tier = tier
                case .tag(let id, let tag): customers[id]?.tags.insert(tag)
                case .order(let id, _): customers[id]?.orders.append(Order(at: at))
                case .refundAll(let id, let order):
                    if let index = Self.index(order) { customers[id]?.orders[index].refundedAt = at }
                case .cancel(let id, let order):
                    if let index = Self.index(order) { customers[id]?.orders[index].cancelledAt = at }
                }
            }
            return customers
        }

        /// Order ids are `<customer>-o<n>`: n is the index among the customer's orders.
        static func index(_ order: String) -> Int? { order.split(separator: "o").last.flatMap { Int($0) } }
    }

    @Test(arguments: [11, 29, 47])
    func membershipAtAnyInstantEqualsADirectEvaluation(seed: UInt64) async throws {
        var rng = SeededGenerator(seed: seed)
        let start = Timestamp.parse("2025-01-01T00:00:00Z")!
        var clock = start
        var history: [(Int64, Operation)] = []
        var requests: [(String, JSON)] = []
        for (index, filter) in Self.filters.enumerated() {
            requests.append(
                (
                    "segment.define",
                    [
                        "at": .string(Timestamp.format(start)), "segment_id": .string("s\(index)"), "name": "S",
                        "filter": filter.0,
                    ]
                ))
        }
        var orders: [String: Int] = [:]
        var open: [(String, String)] = []
        let tiers: [String?] = ["gold", "silver", nil]
        for step in 0..<160 {
            clock += Int64.random(in: 1...(3 * 86_400_000), using: &rng)
            let at = JSON.string(Timestamp.format(clock))
            let customers = orders.keys.sorted()
            if customers.count < 3 || step % 9 == 0 {
                let id = "c\(customers.count)"
                let tier = tiers.randomElement(using: &rng)!
                let tags = Bool.random(using: &rng) ? ["vip"] : []
                history.append((clock, .create(id, tier: tier, tags: tags)))
                var params: JSON = ["at": at, "customer_id": .string(id), "first_name": "C", "tags": .strings(tags)]
                if let tier { params["tier"] = .string(tier) }
                requests.append(("customer.create", params))
                orders[id] = 0
                continue
            }
            let id = customers.randomElement(using: &rng)!
            switch Int.random(in: 0..<10, using: &rng) {
            case 0:
                let tier = tiers.randomElement(using: &rng)!
                history.append((clock, .tier(id, tier)))
                let change: JSON = tier.map { ["set": ["tier": .string($0)]] } ?? ["unset": ["tier"]]
                var params: JSON = ["at": at, "customer_id": .string(id)]
                for (key, value) in change.objectValue ?? [:] { params[key] = value }
                requests.append(("customer.update", params))
            case 1:
                history.append((clock, .tag(id, "vip")))
                requests.append(("customer.tag", ["at": at, "customer_id": .string(id), "add": ["vip"]]))
            case 2 where !open.isEmpty:
                let (owner, order) = open.remove(at: Int.random(in: 0..<open.count, using: &rng))
                history.append((clock, .refundAll(owner, id: order)))
                requests.append(("order.refund", ["at": at, "order_id": .string(order), "amount": "10.00"]))
            case 3 where !open.isEmpty:
                let (owner, order) = open.remove(at: Int.random(in: 0..<open.count, using: &rng))
                history.append((clock, .cancel(owner, id: order)))
                requests.append(("order.cancel", ["at": at, "order_id": .string(order)]))
            default:
                let order = "\(id)-o\(orders[id]!)"
                orders[id]! += 1
                open.append((id, order))
                history.append((clock, .order(id, id: order)))
                requests.append(
                    (
                        "order.record",
                        [
                            "at": at, "order_id": .string(order), "customer_id": .string(id), "amount": "10.00",
                            "currency": "EUR",
                        ]
                    ))
            }
        }
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.results(requests)
        // Instants: random ones, event instants, and the starts of days (where time-driven flips fall).
        var instants = (0..<30).map { _ in start + Int64.random(in: 0...(clock - start + 60 * 86_400_000), using: &rng)
        }
        instants += history.map(\.0).shuffled(using: &rng).prefix(15)
        instants += (0..<10).map { _ in (start / 86_400_000 + Int64.random(in: 0...400, using: &rng)) * 86_400_000 }
        var memberships = Array(repeating: 0, count: Self.filters.count)
        for instant in instants {
            let model = Model.customers(history, at: instant)
            for (index, filter) in Self.filters.enumerated() {
                let expected = model.filter { filter.1($0.value, instant) }.keys.sorted()
                let actual = try await Self.members(client, "s\(index)", Timestamp.format(instant))
                #expect(actual == expected, "seed \(seed) s\(index) at \(Timestamp.format(instant))")
                memberships[index] += expected.count
            }
        }
        // The same filters previewed at a few past instants: answered by folding the log up to each.
        for instant in instants.prefix(4) where instant < clock {
            let model = Model.customers(history, at: instant)
            for (index, filter) in Self.filters.enumerated() {
                let expected = model.filter { filter.1($0.value, instant) }.keys.sorted()
                let preview = try await client.result(
                    "segment.preview", ["filter": filter.0, "as_of": .string(Timestamp.format(instant))])
                #expect(preview["count"] == .int(Int64(expected.count)), "seed \(seed) preview s\(index)")
                #expect(preview["sample"] == .strings(Array(expected.prefix(20))) && preview["cost"] == "replay")
            }
        }
        // Every filter selected someone at some of the instants, so the comparison is not vacuous.
        #expect(memberships.allSatisfy { $0 > 0 }, "\(memberships)")
    }
}
