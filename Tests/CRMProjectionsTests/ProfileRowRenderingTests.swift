import CRMDomain
import CRMEventStore
import CRMJSON
import CRMTesting
import Testing

@testable import CRMProjections

/// The profile document is rendered straight from the stored rows (``ProfileRowRenderer``): the text
/// must be byte for byte the canonical serialization of the document built member by member from the
/// decoded profile and stats (``document(_:)``, the reference here), for every profile.
@Suite struct ProfileRowRenderingTests {
    /// A customer's profile and stats, as the read model stores them in two rows.
    struct Rows {
        var profile: CustomerProfile
        var stats = ProfileStats()
    }

    /// The rendering of the rows.
    static func fast(_ rows: Rows) throws -> [UInt8] {
        try ProfileRowRenderer.render(rows.profile.encoded(), rows.stats.encoded())
    }

    /// The rendering of rows joined in `bytes`.
    static func render(_ bytes: [UInt8]) throws(RowFault) -> [UInt8] {
        try bytes.withUnsafeBytes { buffer in Result { () throws(RowFault) in try ProfileRowRenderer.render(buffer) } }
            .get()
    }

    /// The reference: the profile document as a JSON value, whose serialization sorts the keys.
    static func document(_ rows: Rows) -> JSON {
        func time(_ millis: Int64?) -> JSON { .string(millis.map(Timestamp.format)) }
        let (profile, stats) = (rows.profile, rows.stats)
        let deals = stats.deals ?? [:]
        var won: [String: MoneyAmount] = [:]
        for fact in deals.values where fact.kind == "won" {
            if let amount = fact.amount, let currency = fact.currency { won[currency] = (won[currency] ?? .zero) + amount }
        }
        let names = [profile.firstName, profile.lastName].compactMap { $0 }.filter { !$0.isEmpty }
        var document: [String: JSON] = [
            "address": profile.address.map { address in
                [
                    "street": .string(address.street), "city": .string(address.city), "state": .string(address.state),
                    "postal_code": .string(address.postalCode), "country": .string(address.country),
                ]
            } ?? .null,
            "company_name": .string(profile.companyName), "created_at": time(profile.createdAt),
            "custom": .object(profile.custom.mapValues(\.json)), "customer_id": .string(profile.customerID),
            "do_not_call": .bool(profile.doNotCall),
            "emails": .array(
                profile.emails.map { email in
                    [
                        "address": .string(email.address), "consent": .string(email.consent),
                        "consent_at": time(email.consentAt), "invalid": .bool(email.invalid),
                        "legal_basis": .string(email.legalBasis), "opted_out": .bool(email.optedOut),
                        "primary": .bool(email.primary),
                    ]
                }
            ),
            "job_title": .string(profile.jobTitle), "lead_status": .string(profile.leadStatus),
            "lifecycle": [
                "entered_at": time(profile.lifecycleEnteredAt), "stage": .string(profile.lifecycleStage),
                "history": .array(
                    profile.lifecycleHistory.map { entry in
                        ["entered_at": time(entry.enteredAt), "exited_at": time(entry.exitedAt), "stage": .string(entry.stage)]
                    }
                ),
            ],
            "merged_from": .strings(profile.mergedFrom), "merged_into": .string(profile.mergedInto),
            "name": [
                "first": .string(profile.firstName), "last": .string(profile.lastName),
                "full": .string(names.isEmpty ? nil : names.joined(separator: " ")),
            ],
            "owner_id": .string(profile.ownerID),
            "phones": .array(
                profile.phones.map { phone in
                    [
                        "consent": .string(phone.consent), "normalized": .string(phone.normalized),
                        "number": .string(phone.number), "primary": .bool(phone.primary), "type": .string(phone.type),
                    ]
                }
            ),
            "source": .string(profile.source), "state": .string(profile.state),
            "stats": [
                "activity_counts": .object(stats.activityCounts.mapValues { .int($0) }),
                "last_activity_at": time(stats.lastActivityAt), "last_contacted_at": time(stats.lastContactedAt),
                "open_deals": .int(Int64(deals.values.count { $0.kind == "open" })),
                "open_tickets": .int(stats.openTickets), "tickets_total": .int(stats.ticketsTotal),
                "won_amount": .object(won.mapValues(\.json)),
                "won_deals": .int(Int64(deals.values.count { $0.kind == "won" })),
            ],
            "tags": .strings(profile.tags), "tier": .string(profile.tier), "updated_at": time(profile.updatedAt),
            "value": .null, "version": .int(Int64(truncatingIfNeeded: profile.version)),
        ]
        if let facts = stats.deals {
            document["deals"] = .object(
                facts.mapValues { fact in
                    ["amount": fact.amount?.json ?? .null, "currency": .string(fact.currency), "kind": .string(fact.kind)]
                }
            )
        }
        return .object(document)
    }

    /// A profile with every part filled in the way commands fill them (ASCII ids and keys), varied by `rng`.
    static func randomProfile(_ rng: inout SeededGenerator, number: Int) -> Rows {
        func pick(_ choices: [String]) -> String { choices[Int(rng.next() % UInt64(choices.count))] }
        func chance(_ percent: UInt64) -> Bool { rng.next() % 100 < percent }
        func time() -> Int64 { Int64(rng.next() % 4_102_444_800_000) - 1_000_000 }
        let texts = ["", "Ann", "O'Brien", "Zoë", "say \"hi\"", "back\\slash", "tab\there", "line\nbreak", "日本", "🎉 x"]
        var profile = CustomerProfile(
            customerID: "c\(number)", version: rng.next() % 1000, createdAt: time(), lifecycleStage: pick(["lead", "mql"])
        )
        if chance(10) {
            profile.state = "merged"
            profile.mergedInto = "c\(number + 1)"
        }
        profile.mergedFrom = chance(20) ? ["c-\(number)-a", "c-\(number)-b"] : []
        profile.updatedAt = chance(50) ? profile.createdAt : time()
        profile.firstName = chance(80) ? pick(texts) : nil
        profile.lastName = chance(80) ? pick(texts) : nil
        for index in 0..<Int(rng.next() % 3) {
            profile.emails.append(
                CustomerProfile.Email(
                    address: "\(pick(texts))\(index)@example.com", primary: index == 0, optedOut: chance(30),
                    invalid: chance(10), consent: pick(["not_set", "opted_in", "opted_out"]),
                    consentAt: chance(50) ? time() : nil, legalBasis: chance(30) ? pick(texts) : nil
                )
            )
        }
        for index in 0..<Int(rng.next() % 3) {
            profile.phones.append(
                CustomerProfile.Phone(
                    number: "+1 555 \(index)", normalized: "+1555\(index)", type: chance(50) ? "mobile" : nil,
                    primary: index == 0, consent: pick(["not_set", "opted_out"])
                )
            )
        }
        profile.doNotCall = chance(20)
        profile.companyName = chance(50) ? pick(texts) : nil
        profile.jobTitle = chance(50) ? pick(texts) : nil
        if chance(50) {
            profile.address = CustomerState.PostalAddress(
                street: chance(80) ? pick(texts) : nil, city: chance(80) ? pick(texts) : nil,
                state: chance(50) ? pick(texts) : nil, postalCode: chance(50) ? "12345" : nil,
                country: chance(80) ? "US" : nil
            )
        }
        profile.ownerID = chance(50) ? "u\(number % 7)" : nil
        profile.tags = chance(60) ? Array(Set((0..<3).map { _ in pick(["vip", "b2b", "churn-risk", "émigré"]) })).sorted() : []
        profile.tier = chance(50) ? pick(["gold", "silver", ""]) : nil
        profile.source = chance(70) ? pick(["web", "referral"]) : nil
        for _ in 0..<Int(rng.next() % 4) {
            let at = time()
            profile.lifecycleHistory[profile.lifecycleHistory.count - 1].exitedAt = at
            profile.lifecycleHistory.append(CustomerProfile.LifecycleEntry(stage: pick(["sql", "customer"]), enteredAt: at))
        }
        profile.lifecycleEnteredAt = profile.lifecycleHistory.last!.enteredAt
        profile.leadStatus = chance(50) ? pick(["new", "working"]) : nil
        for _ in 0..<Int(rng.next() % 4) {
            let value: CustomValue = [
                .string(pick(texts)), .int(Int64(bitPattern: rng.next())), .double(Double(rng.next() % 10_000) / 7),
                .bool(chance(50)), .double(1e300), .double(-0.0),
            ][Int(rng.next() % 6)]
            profile.custom[pick(["plan", "seats", "score", "Region", "a_b", "z"])] = value
        }
        var stats = ProfileStats()
        stats.openTickets = Int64(rng.next() % 5)
        stats.ticketsTotal = stats.openTickets + Int64(rng.next() % 5)
        stats.lastActivityAt = chance(60) ? time() : nil
        stats.lastContactedAt = chance(40) ? stats.lastActivityAt : nil
        for type in ProfileStats.activityTypes { stats.activityCounts[type] = Int64(rng.next() % 20) }
        if chance(60) {
            var deals: [String: ProfileStats.DealFact] = [:]
            for index in 0..<Int(rng.next() % 4) {
                let amount = chance(70) ? MoneyAmount(units: Int128(rng.next() % 100_000_000_000_000)) : nil
                let kind = chance(15) ? "won" : pick(["open", "lost", "open"])
                deals["d\(number)-\(index)"] = ProfileStats.DealFact(
                    kind: kind, amount: amount, currency: amount == nil || chance(10) ? nil : pick(["EUR", "USD"])
                )
            }
            stats.deals = deals
        }
        return Rows(profile: profile, stats: stats)
    }

    @Test func rowsRenderAsTheDocumentSerializes() throws {
        var rng = SeededGenerator(seed: 14)
        var profiles = [Rows(profile: CustomerProfileRowTests.oddProfile(), stats: CustomerProfileRowTests.oddStats())]
        for number in 0..<3000 { profiles.append(Self.randomProfile(&rng, number: number)) }
        for rows in profiles {
            let expected = Self.document(rows).serialized()
            let fast = try Self.fast(rows)
            #expect(fast == expected, "\(rows.profile.customerID): \(String(decoding: fast, as: UTF8.self))")
            #expect(rows.profile.rendered(rows.stats) == expected)
        }
    }

    @Test func dictionariesComeOutInKeyOrderWhateverTheRowOrder() throws {
        var rows = Rows(
            profile: CustomerProfile(customerID: "c1", version: 3, createdAt: 1_700_000_000_000, lifecycleStage: "lead")
        )
        // `encoded()` sorts keys as strings, which is not UTF-8 order for these.
        rows.profile.custom = ["é": 1, "z": 2, "e\u{301}x": 3, "\u{FB01}": 4, "Z": 5]
        rows.stats.deals = [
            "ö": ProfileStats.DealFact(kind: "won", amount: MoneyAmount(decimal: "1.5"), currency: "€"),
            "o": ProfileStats.DealFact(kind: "won", amount: MoneyAmount(decimal: "2.25"), currency: "EUR"),
            "p": ProfileStats.DealFact(kind: "won", amount: MoneyAmount(decimal: "0.25"), currency: "€"),
        ]
        let fast = try Self.fast(rows)
        #expect(fast == Self.document(rows).serialized())
        #expect(try JSON.parse(fast)["stats"]?["won_amount"] == ["EUR": "2.25", "€": "1.75"])
    }

    @Test func damagedRowsAreRefused() throws {
        let full = Self.fullProfile()
        let row = full.profile.encoded() + full.stats.encoded()
        for length in 0..<row.count {
            #expect(throws: RowFault.self) {
                try Self.render(Array(row.prefix(length)))
            }
        }
        let statsFormat = full.profile.encoded().count
        var otherStats = row
        otherStats[statsFormat] = 9
        var otherPersonal = row
        otherPersonal[full.profile.encodedPlain().count] = 9
        for damaged in [row + [0], [9] + row.dropFirst(), otherStats, otherPersonal] {
            #expect(throws: RowFault.self) {
                try Self.render(Array(damaged))
            }
        }
        // A key twice (one more activity count "call" after the last).
        let twice = CustomerProfile(customerID: "c1", version: 1, createdAt: 0, lifecycleStage: "lead")
        var stats = ProfileStats()
        stats.activityCounts = ["call": 1, "task": 2]
        var bytes = twice.encoded() + stats.encoded()
        let task = try #require(bytes.indices.first { bytes[$0...].starts(with: Array("\u{4}task".utf8)) })
        bytes.replaceSubrange(task..<(task + 5), with: Array("\u{4}call".utf8))
        #expect(throws: RowFault.self) {
            try Self.render(bytes)
        }
        #expect(throws: Never.self) { try Self.render(row) }
    }

    @Test func aPersonalRowThatCannotBeOpenedRendersAsNoneAndSaysSo() throws {
        let full = Self.fullProfile()
        let rows = full.profile.encodedPlain() + CustomerProfile.emptyPersonalRow + full.stats.encoded()
        let text = try rows.withUnsafeBytes { buffer in
            Result { () throws(RowFault) in try ProfileRowRenderer.render(buffer, personalUnavailable: true) }
        }.get()
        let document = try JSON.parse(String(decoding: text, as: UTF8.self))
        #expect(document["pii_unavailable"] == true)
        #expect(document["name"] == ["first": nil, "last": nil, "full": nil] && document["emails"] == [])
        #expect(document["tags"] == .strings(full.profile.tags), "what is not personal is all there")
        #expect(try JSON.parse(String(decoding: try Self.render(rows), as: UTF8.self))["pii_unavailable"] == nil)
    }

    @Test func mergedRowsAreRecognised() throws {
        var profile = CustomerProfile(customerID: "c1", version: 1, createdAt: 0, lifecycleStage: "lead")
        #expect(profile.encoded().withUnsafeBytes { ProfileRowRenderer.isMerged($0) } == false)
        profile.state = "merged"
        #expect(profile.encoded().withUnsafeBytes { ProfileRowRenderer.isMerged($0) } == true)
        #expect([UInt8]().withUnsafeBytes { ProfileRowRenderer.isMerged($0) } == false)
    }

    /// A profile with every list filled.
    static func fullProfile() -> Rows {
        var rng = SeededGenerator(seed: 7)
        while true {
            let rows = Self.randomProfile(&rng, number: 1)
            let profile = rows.profile
            if !profile.emails.isEmpty, !profile.phones.isEmpty, !profile.custom.isEmpty, profile.address != nil,
                rows.stats.deals?.isEmpty == false
            {
                return rows
            }
        }
    }
}
