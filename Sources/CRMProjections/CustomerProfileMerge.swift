import CRMDomain
import LMDB

extension CustomerProfileProjector {
    // MARK: - CustomersMerged

    /// Makes the primary's profile the merge's result and the secondaries' profiles tombstones
    /// (`state: merged`, `merged_into`, nothing personal, stored without a key): the primary takes the
    /// event's fields, keeps the consent details (`consent_at`, `legal_basis`) of whichever profile held
    /// each address, the earliest `created_at` and the union of the lifecycle histories (the
    /// secondaries' current stages end at the merge); its stats become the sums of all (the
    /// secondaries' are emptied); the
    /// secondaries' timelines move into its timeline and their event positions are added to its own,
    /// so `as_of` reads before the merge still see every record; their deals and tickets name it.
    func applyCustomersMerged(_ merged: CustomersMerged, _ event: RecordedEvent, _ txn: Transaction) throws {
        let primaryID = merged.primaryID
        // A fold of some customers' events only (time travel) may hold the secondaries but not the
        // primary: they still end as tombstones.
        let old = try self.loadProfile(primaryID, txn)
        var stats = try self.loadStats(primaryID, txn)
        var secondaries: [CustomerProfile] = []
        for id in merged.secondaryIDs {
            if let profile = try self.loadProfile(id, txn) { secondaries.append(profile) }
        }
        for secondary in secondaries {
            let id = secondary.customerID
            var tombstone = CustomerProfile(
                customerID: id, version: secondary.version, createdAt: secondary.createdAt,
                lifecycleStage: secondary.lifecycleStage
            )
            tombstone.state = "merged"
            tombstone.mergedInto = primaryID
            tombstone.updatedAt = event.occurredAt
            tombstone.lifecycleEnteredAt = secondary.lifecycleEnteredAt
            tombstone.lifecycleHistory = secondary.lifecycleHistory
            try self.reindex(id, from: secondary, to: tombstone, txn)
            try self.storeTombstone(tombstone, txn)
            if let theirs = try self.loadStats(id, txn) {
                stats?.absorb(theirs)
                try self.storeStats(ProfileStats(), of: id, txn)
            }
            guard old != nil else { continue }
            try self.moveRows(
                ProfileKeys.timelinePrefix(id), to: ProfileKeys.timelinePrefix(primaryID), keep: false, txn)
            try self.moveRows(
                ProfileKeys.positionsPrefix(id), to: ProfileKeys.positionsPrefix(primaryID), keep: true, txn)
        }
        guard let old, let stats else { return }
        let everyone = [old] + secondaries
        var profile = old
        Self.take(merged.result, into: &profile, holders: everyone)
        profile.doNotCall = everyone.contains(where: \.doNotCall)
        profile.createdAt = everyone.map(\.createdAt).min()!
        profile.lifecycleHistory = Self.mergedHistory(everyone, at: event.occurredAt)
        profile.mergedFrom = merged.mergedFrom
        profile.version = event.streamVersion
        profile.updatedAt = event.occurredAt
        try self.reindex(primaryID, from: old, to: profile, txn)
        try self.storeProfile(profile, for: event, txn)
        try self.storeStats(stats, of: primaryID, txn)

        let secondaryIDs = Set(merged.secondaryIDs)
        for dealID in merged.moved.deals {
            let holders = try self.customersHolding(dealID, txn)
            var seen = Set<String>()
            let repointed = holders.map { secondaryIDs.contains($0) ? primaryID : $0 }.filter {
                seen.insert($0).inserted
            }
            if repointed != holders { try self.storeHolders(repointed, of: dealID, txn) }
        }
        for stream in merged.moved.deals.map({ "deal-" + $0 }) + merged.moved.tickets.map({ "ticket-" + $0 }) {
            let streamKey = Array(stream.utf8)
            for id in merged.secondaryIDs {
                _ = try txn.delete(self.streamCustomers, ProfileKeys.pairKey(streamKey, id))
            }
            try txn.put(self.streamCustomers, ProfileKeys.pairKey(streamKey, primaryID), [UInt8]())
        }
        let note = TimelineNote.customersMerged(customerID: primaryID, secondaryIDs: merged.secondaryIDs)
        try self.putTimelineEntry(note, for: event, customerID: primaryID, txn)
    }

    /// Sets the fields a merge decides from `result`; each email keeps the consent details of the first
    /// of `holders` that held it with the consent it ends with (else of the first that held it).
    private static func take(_ result: CustomerState, into profile: inout CustomerProfile, holders: [CustomerProfile]) {
        profile.firstName = result.firstName
        profile.lastName = result.lastName
        profile.companyName = result.companyName
        profile.jobTitle = result.jobTitle
        profile.address = result.address
        profile.ownerID = result.ownerID
        profile.tags = result.tags
        profile.tier = result.tier
        profile.source = result.source
        profile.leadStatus = result.leadStatus
        profile.custom = result.custom
        let held = holders.flatMap(\.emails)
        profile.emails = result.emails.map { email in
            let key = ProfileKeys.emailKey(email.address)
            let same = held.filter { ProfileKeys.emailKey($0.address) == key }
            let origin = same.first { $0.consent == email.consent } ?? same.first
            return CustomerProfile.Email(
                address: email.address, primary: email.primary, optedOut: email.optedOut, invalid: email.invalid,
                consent: email.consent, consentAt: origin?.consentAt, legalBasis: origin?.legalBasis
            )
        }
        profile.phones = result.phones.map { phone in
            CustomerProfile.Phone(
                number: phone.number, normalized: phone.normalized, type: phone.type, primary: phone.primary,
                consent: phone.consent
            )
        }
    }

    /// Every profile's lifecycle history in one, sorted by entry time (ties in the order given); the
    /// secondaries' current stages end at `at`.
    private static func mergedHistory(_ everyone: [CustomerProfile], at: Int64) -> [CustomerProfile.LifecycleEntry] {
        var entries: [(order: Int, entry: CustomerProfile.LifecycleEntry)] = []
        for (index, profile) in everyone.enumerated() {
            for entry in profile.lifecycleHistory {
                var entry = entry
                if index > 0, entry.exitedAt == nil { entry.exitedAt = at }
                entries.append((entries.count, entry))
            }
        }
        return entries.sorted { ($0.entry.enteredAt, $0.order) < ($1.entry.enteredAt, $1.order) }.map(\.entry)
    }

    /// Copies every row of `rows` under `prefix` to the same key under `destination` instead, and
    /// removes the originals unless `keep`.
    private func moveRows(_ prefix: [UInt8], to destination: [UInt8], keep: Bool, _ txn: Transaction) throws {
        let rows = try txn.withCursor(self.profiles) { cursor in
            var rows: [(key: [UInt8], value: [UInt8])] = []
            var entry = try cursor.seek(atOrAfter: prefix)
            while let found = entry, found.key.starts(with: prefix) {
                rows.append((found.keyBytes, found.valueBytes))
                entry = try cursor.next()
            }
            return rows
        }
        for row in rows {
            try txn.put(self.profiles, destination + row.key.dropFirst(prefix.count), row.value)
            if !keep { _ = try txn.delete(self.profiles, row.key) }
        }
    }
}

extension ProfileStats {
    /// Adds the stats of a customer merged into this one: counts add up, the latest times win, and
    /// the deals are the union (a deal both named is one deal).
    mutating func absorb(_ other: ProfileStats) {
        self.openTickets += other.openTickets
        self.ticketsTotal += other.ticketsTotal
        self.lastActivityAt = [self.lastActivityAt, other.lastActivityAt].compactMap { $0 }.max()
        self.lastContactedAt = [self.lastContactedAt, other.lastContactedAt].compactMap { $0 }.max()
        self.activityCounts.merge(other.activityCounts, uniquingKeysWith: +)
        if let deals = other.deals {
            self.deals = (self.deals ?? [:]).merging(deals) { mine, _ in mine }
        }
    }
}
