import CRMDomain
import CRMJSON
import CRMParams
import LMDB

extension CustomerProfileProjector {
    /// The page size when a query gives no `limit`.
    static let defaultLimit = 50
    /// The largest `limit` a query accepts.
    static let maximumLimit = 200

    // MARK: - customer.get

    /// `customer.get {customer_id}` → the profile document, rendered from the stored row.
    ///
    /// Rejections: `missing_field`/`invalid_field` `customer_id`, unknown fields, `not_found` for an
    /// unknown customer, `customer_merged` (with `details.merged_into`) for a merged one.
    ///
    /// `blocks` gives the `feedback` and `value` members of a customer that has a profile (see
    /// ``ProfileRowRenderer/render(_:personalUnavailable:blocks:)``); they are written in place.
    public func getQuery(
        _ json: JSON?,
        _ txn: Transaction,
        blocks: ((_ customerID: String) throws -> ProfileBlocks)? = nil
    ) throws -> JSON {
        var params = try Params(json)
        let customerID = try params.identifier("customer_id", required: true)!
        try params.finish()
        // The profile is rendered from its rows in place; a merged one is decoded for its rejection,
        // a damaged one for its storage error.
        let rendered = try self.withProfileRows(customerID, txn) { rows, unavailable -> [UInt8]? in
            guard !ProfileRowRenderer.isMerged(rows) else { return nil }
            let members = try blocks?(customerID)
            return try? ProfileRowRenderer.render(rows, personalUnavailable: unavailable, blocks: members)
        }
        guard let rendered else { throw Rejection.notFound("customer_id", "customer", customerID) }
        if let text = rendered { return .serialized(SerializedJSON(text)) }
        guard let (profile, stats) = try self.loadDocumentParts(customerID, txn) else {
            throw Rejection.notFound("customer_id", "customer", customerID)
        }
        if profile.state == "merged" { throw Self.merged(profile) }
        var document = profile.document(stats)
        if let members = try blocks?(customerID) {
            document["feedback"] = .serialized(SerializedJSON(members.feedback))
            document["value"] = .serialized(SerializedJSON(members.value))
        }
        return document
    }

    // MARK: - customer.find

    /// `customer.find {email | phone | tag, limit?, after?}` → `{"customers": [profile…], "next_after": id|null}`.
    ///
    /// Exactly one of `email` (matched trimmed and lower-cased), `phone` (matched on its normalized
    /// form) or `tag` is required: none gives `missing_field` `email`, several give `invalid_field`.
    /// `after` (a customer id from `next_after`) pages `phone` and `tag` results in customer id order;
    /// with `email` it is `invalid_field`, since an address belongs to at most one customer.
    func findQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let email = try params.string("email")
        let phone = try params.string("phone")
        let tag = try params.string("tag")
        let limit = try Self.limit(&params)
        let after = try params.identifier("after")
        try params.finish()

        let given = [("email", email), ("phone", phone), ("tag", tag)].filter { $0.1 != nil }
        guard let (field, _) = given.first else {
            throw Rejection(.missingField, field: "email", "one of email, phone or tag is required")
        }
        guard given.count == 1 else {
            throw Rejection.invalid(given[1].0, "give only one of email, phone or tag")
        }

        let ids: [String]
        let nextAfter: String?
        switch field {
        case "email":
            guard after == nil else { throw Rejection.invalid("after", "after pages phone and tag results only") }
            let key = ProfileKeys.emailKey(email!)
            guard !key.isEmpty else { throw Rejection.invalid("email", "must not be empty") }
            let holder = try txn.get(self.emails, self.personalIndexKey(key))
            ids = holder.map { [String(decoding: $0, as: UTF8.self)] } ?? []
            nextAfter = nil
        case "phone":
            guard let normalized = ProfileKeys.normalizedPhone(phone!) else {
                throw Rejection(.invalidPhone, field: "phone", "\"\(phone!)\" is not a phone number")
            }
            (ids, nextAfter) = try self.scanPairs(
                self.phones, self.personalIndexKey(normalized), after: after, limit: limit, txn
            )
        default:
            guard !tag!.isEmpty else { throw Rejection.invalid("tag", "must not be empty") }
            (ids, nextAfter) = try self.scanPairs(self.tags, Array(tag!.utf8), after: after, limit: limit, txn)
        }
        var customers: [JSON] = []
        for customerID in ids {
            if let profile = try self.profileDocument(customerID, txn) { customers.append(profile) }
        }
        return ["customers": .array(customers), "next_after": .string(nextAfter)]
    }

    /// The profile document of `customerID` (rendered from its rows in place), or `nil`; damaged rows
    /// are decoded for their storage error.
    func profileDocument(_ customerID: String, _ txn: Transaction) throws -> JSON? {
        let rendered = try self.withProfileRows(customerID, txn) { rows, unavailable in
            try? ProfileRowRenderer.render(rows, personalUnavailable: unavailable)
        }
        guard let rendered else { return nil }
        if let text = rendered { return .serialized(SerializedJSON(text)) }
        return try self.loadDocumentParts(customerID, txn).map { $0.profile.document($0.stats) }
    }

    /// The profile and stats of `customerID` decoded, for rows the renderer refused: a damaged row
    /// throws its ``ProfileStorageError``; `nil` when there is no profile row.
    private func loadDocumentParts(
        _ customerID: String,
        _ txn: Transaction
    ) throws -> (profile: CustomerProfile, stats: ProfileStats)? {
        guard let profile = try self.loadProfile(customerID, txn) else { return nil }
        guard let stats = try self.loadStats(customerID, txn) else {
            throw ProfileStorageError(message: "stored stats of customer \(customerID) are missing")
        }
        return (profile, stats)
    }

    /// Up to `limit` customer ids of the index rows `first ‖ 0x00 ‖ id` with id after `after`, and the
    /// last id returned when more rows follow.
    func scanPairs(
        _ database: Database,
        _ first: [UInt8],
        after: String?,
        limit: Int,
        _ txn: Transaction
    ) throws -> ([String], String?) {
        let prefix = ProfileKeys.pairPrefix(first)
        return try txn.withCursor(database) { cursor in
            var entry: Cursor.Entry?
            if let after {
                let key = ProfileKeys.pairKey(first, after)
                entry = try cursor.seek(atOrAfter: key)
                if let found = entry, found.key.elementsEqual(key) { entry = try cursor.next() }
            } else {
                entry = try cursor.seek(atOrAfter: prefix)
            }
            var ids: [String] = []
            var more = false
            while let found = entry, found.key.starts(with: prefix) {
                if ids.count == limit {
                    more = true
                    break
                }
                ids.append(String(decoding: found.key.dropFirst(prefix.count), as: UTF8.self))
                entry = try cursor.next()
            }
            return (ids, more ? ids.last : nil)
        }
    }

    // MARK: - customer.find_duplicates

    /// Most customers one index key (a phone number, a name at a company) contributes as candidates.
    static let maximumSharers = 1000

    /// `customer.find_duplicates {customer_id, limit?}` → `{"customer_id", "candidates": [{"customer_id",
    /// "reasons", "phones"}], "truncated"}`: the customers that share a phone number (normalized) with
    /// this one, or its full name at the same company (case and spacing ignored), by customer id. They
    /// are candidates only: nothing is merged. `reasons` holds `phone` and/or `name_company`; `phones`
    /// the shared numbers.
    ///
    /// Rejections: `missing_field`/`invalid_field` `customer_id`, `limit` outside 1–200, unknown fields,
    /// `not_found`.
    func findDuplicatesQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let customerID = try params.identifier("customer_id", required: true)!
        let limit = try Self.limit(&params)
        try params.finish()
        guard let profile = try self.loadProfile(customerID, txn) else {
            throw Rejection.notFound("customer_id", "customer", customerID)
        }
        var found: [String: (reasons: Set<String>, phones: Set<String>)] = [:]
        for number in Set(profile.phones.map(\.normalized)) {
            let (ids, _) = try self.scanPairs(
                self.phones, self.personalIndexKey(number), after: nil, limit: Self.maximumSharers, txn
            )
            for id in ids where id != customerID {
                found[id, default: ([], [])].reasons.insert("phone")
                found[id, default: ([], [])].phones.insert(number)
            }
        }
        if let key = ProfileKeys.nameCompanyKey(
            first: profile.firstName, last: profile.lastName, company: profile.companyName
        ) {
            let (ids, _) = try self.scanPairs(
                self.names, self.personalIndexKey(key), after: nil, limit: Self.maximumSharers, txn
            )
            for id in ids where id != customerID { found[id, default: ([], [])].reasons.insert("name_company") }
        }
        let candidates = found.keys.sorted().prefix(limit).map { id -> JSON in
            [
                "customer_id": .string(id), "reasons": .strings(found[id]!.reasons.sorted()),
                "phones": .strings(found[id]!.phones.sorted()),
            ]
        }
        return [
            "customer_id": .string(customerID), "candidates": .array(Array(candidates)),
            "truncated": .bool(found.count > limit),
        ]
    }

    // MARK: - customer.timeline

    /// `customer.timeline {customer_id, before?, limit?}` → `{"entries": […], "next_before": cursor|null}`.
    ///
    /// Entries come newest first (`at` desc, then `seq` desc). `next_before` is the cursor of the last
    /// entry returned when older entries remain; passing it as `before` returns the next page.
    /// Rejections: unknown customer → `not_found`; a cursor this method did not make → `invalid_field`
    /// `before`; `limit` outside 1–200 → `invalid_field`.
    /// `customer_merged` for the merged customer `profile`, naming the customer it was merged into.
    static func merged(_ profile: CustomerProfile) -> Rejection {
        Rejection(
            .customerMerged,
            field: "customer_id",
            "customer \(profile.customerID) was merged into \(profile.mergedInto ?? "another customer")",
            details: ["merged_into": .string(profile.mergedInto)]
        )
    }

    func timelineQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let customerID = try params.identifier("customer_id", required: true)!
        let beforeText = try params.string("before")
        let limit = try Self.limit(&params)
        try params.finish()
        var before: (at: Int64, seq: UInt64)?
        if let beforeText {
            guard let cursor = ProfileKeys.parseTimelineCursor(beforeText) else {
                throw Rejection.invalid("before", "not a cursor returned by customer.timeline")
            }
            before = cursor
        }
        guard let profile = try self.loadProfile(customerID, personal: false, txn) else {
            throw Rejection.notFound("customer_id", "customer", customerID)
        }
        // A merged customer's entries moved to the customer it was merged into.
        if profile.state == "merged" { throw Self.merged(profile) }

        let prefix = ProfileKeys.timelinePrefix(customerID)
        let what = "timeline entry of customer \(customerID)"
        return try txn.withCursor(self.profiles) { cursor in
            var entry: Cursor.Entry?
            if let before {
                // Entries sort newest first: the page continues after the cursor's entry.
                let key = prefix + ProfileKeys.timelineSuffix(at: before.at, seq: before.seq)
                entry = try cursor.seek(atOrAfter: key)
                if let found = entry, found.key.elementsEqual(key) { entry = try cursor.next() }
            } else {
                entry = try cursor.seek(atOrAfter: prefix)
            }
            // The page is written out as it is read: `{"entries":[…],"next_before":…}`.
            var out = CanonicalWriter(capacity: 256 * min(limit, 20))
            out.raw(#"{"entries":["#)
            var count = 0
            var last: (at: Int64, seq: UInt64)?
            var more = false
            while let found = entry, found.key.starts(with: prefix) {
                if count == limit {
                    more = true
                    break
                }
                guard let position = ProfileKeys.decodeTimelineKey(found.key, prefixLength: prefix.count) else {
                    throw ProfileStorageError(message: "malformed timeline key of customer \(customerID)")
                }
                let row = try self.withPersonalData(
                    try TimelineRow(decoding: found.valueBytes, what: what), seq: position.seq, txn
                )
                if count > 0 { out.raw(",") }
                row.write(into: &out, at: position.at, seq: position.seq)
                count += 1
                last = position
                entry = try cursor.next()
            }
            out.raw(#"],"next_before":"#)
            out.string(more ? last.map { ProfileKeys.timelineCursor(at: $0.at, seq: $0.seq) } : nil)
            out.raw("}")
            return .serialized(SerializedJSON(out.bytes))
        }
    }

    // MARK: - Shared params

    /// The optional `limit` member: an integer in 1…``maximumLimit``, default ``defaultLimit``.
    static func limit(_ params: inout Params) throws -> Int {
        guard let value = try params.int("limit") else { return Self.defaultLimit }
        guard (1...Int64(Self.maximumLimit)).contains(value) else {
            throw Rejection.invalid(params.fieldPath("limit"), "must be between 1 and \(Self.maximumLimit)")
        }
        return Int(value)
    }
}
