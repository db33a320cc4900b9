import CRMDomain
public import CRMEventStore
public import LMDB

/// The rows of customers a rebuild of the customers read model keeps in memory, decoded: each
/// customer's plain profile row, personal row and stats row, which most events change. A chunk folds
/// its events into these values and writes each row it changed once, in key order, when it ends
/// (``CustomerProfileProjector/flushRows(_:_:)``); the next chunk of the same rebuild takes the values
/// over (they are what the tables then hold), so a row is read and decoded once per rebuild instead
/// of once per event. Timeline, position, deal and index rows go straight to the transaction.
///
/// Used by the writer thread only (through one ``ProjectionBatch`` at a time); the projector that
/// holds it must be `Sendable`, hence `@unchecked`.
final class ProfileRowCache: @unchecked Sendable {
    /// A customer's personal row as the tables hold it (or will once flushed).
    struct Personal {
        /// The personal fields; `nil` when there is no row, or it is sealed under a key that was
        /// already gone when it was read.
        var fields: PersonalFields?
        /// The number of the data key the row is sealed under (or was written without, its key gone).
        var number: UInt64?
        /// Whether the row is sealed under key `number`: it opens only while that key exists.
        var sealed: Bool

        /// The fields, when the row as stored opens: an erasure between two chunks destroys keys, and
        /// a row sealed under a destroyed key reads as unavailable.
        func opened(_ cipher: RowCipher?) -> PersonalFields? {
            guard self.sealed, let number = self.number, let cipher else { return self.fields }
            return cipher.hasKey(number) ? self.fields : nil
        }
    }

    /// A customer's profile rows (a class, so that a fold changes them in place).
    final class Profile {
        /// The profile as last stored (its personal fields are those of `personal`, not these).
        var profile: CustomerProfile
        /// The personal row, once read or written.
        var personal: Personal?
        var plainChanged = false
        var personalChanged = false

        init(_ profile: CustomerProfile) { self.profile = profile }
    }

    /// Profile rows by customer id.
    var profiles: [String: Profile] = [:]
    /// The customers whose profile rows changed since the last flush.
    var changed: [String] = []
    /// Stats rows by customer id.
    var stats = HeldRows<ProfileStats>()

    /// A cache that takes over the rows `previous` holds (all written: its chunk committed), unless
    /// there are too many.
    init(takingOver previous: ProfileRowCache?) {
        guard let previous else { return }
        self.stats.takeOver(&previous.stats)
        guard previous.profiles.count <= HeldRows<ProfileStats>.handOverLimit else { return }
        swap(&self.profiles, &previous.profiles)
    }
}

extension CustomerProfileProjector {
    /// A batch that keeps profile and stats rows in memory (``ProfileRowCache``), taking over those of
    /// `previous`.
    public func batch(after previous: (any ProjectionBatch)?) -> any ProjectionBatch {
        let rows = ProfileRowCache(takingOver: HeldBatch<Self, ProfileRowCache>.held(by: previous))
        var projector = self
        projector.rows = rows
        return HeldBatch(projector, held: rows) { rows, txn in try projector.flushRows(rows, txn) }
    }

    /// ``loadProfile(_:personal:_:)`` through `rows`.
    func cachedProfile(_ customerID: String, personal: Bool, _ rows: ProfileRowCache, _ txn: Transaction) throws
        -> CustomerProfile?
    {
        let entry: ProfileRowCache.Profile
        if let known = rows.profiles[customerID] {
            entry = known
        } else {
            let what = "profile of customer \(customerID)"
            guard let plain = try self.openedRow(Array(customerID.utf8), what: what, txn) else { return nil }
            entry = .init(try CustomerProfile(decoding: plain, personal: nil, what: what))
            rows.profiles[customerID] = entry
        }
        var profile = entry.profile
        guard personal else {
            profile.personalFields = PersonalFields()
            return profile
        }
        if entry.personal == nil { entry.personal = try self.storedPersonal(customerID, plain: profile, txn) }
        profile.personalFields = entry.personal?.opened(self.cipher) ?? PersonalFields()
        return profile
    }

    /// The stored personal row of `customerID`, decoded onto `plain`.
    private func storedPersonal(_ customerID: String, plain: CustomerProfile, _ txn: Transaction) throws
        -> ProfileRowCache.Personal
    {
        let key = ProfileKeys.personalKey(customerID)
        guard let stored = try txn.get(self.profiles, key) else {
            return .init(fields: nil, number: nil, sealed: false)
        }
        func decoded(_ row: [UInt8]) throws -> PersonalFields {
            var profile = plain
            profile.personalFields = PersonalFields()
            try profile.readPersonalRow(row, what: "profile of customer \(customerID)")
            return profile.personalFields
        }
        guard let cipher = self.cipher else { return .init(fields: try decoded(stored), number: nil, sealed: false) }
        let number = RowCipher.number(of: stored)
        switch cipher.open(stored, context: Self.rowsContext + key) {
        case .row(let row): return .init(fields: try decoded(row), number: number, sealed: number != nil)
        case .withoutKey(let row): return .init(fields: try decoded(row), number: number, sealed: false)
        case .unavailable: return .init(fields: nil, number: number, sealed: true)
        case nil:
            throw ProfileStorageError(message: "stored personal row of customer \(customerID) is not a sealed row")
        }
    }

    /// The entry of `id` in `rows`, marked changed; `profile` for a customer it does not hold yet.
    private func changedEntry(_ id: String, _ profile: CustomerProfile, _ rows: ProfileRowCache)
        -> ProfileRowCache.Profile
    {
        let entry: ProfileRowCache.Profile
        if let known = rows.profiles[id] {
            entry = known
        } else {
            entry = .init(profile)
            rows.profiles[id] = entry
        }
        if !entry.plainChanged && !entry.personalChanged { rows.changed.append(id) }
        entry.plainChanged = true
        return entry
    }

    /// ``storeProfile(_:for:personal:_:)`` into `rows`: the personal row is sealed when flushed, under
    /// the key the write would have sealed it with now.
    func cacheProfile(
        _ profile: CustomerProfile,
        for event: RecordedEvent,
        personal: Bool,
        _ rows: ProfileRowCache,
        _ txn: Transaction
    ) throws {
        let id = profile.customerID
        let entry = self.changedEntry(id, profile, rows)
        entry.profile = profile
        guard personal else { return }
        var number: UInt64?
        if let cipher = self.cipher {
            number = event.personalData.flatMap { $0.subject == "c:" + id ? $0.key : nil }
            if number == nil {
                if let known = entry.personal {
                    number = known.number
                } else {
                    number =
                        try txn.withValue(self.profiles, ProfileKeys.personalKey(id)) { RowCipher.number(of: $0) }
                        ?? nil
                }
            }
            entry.personal = .init(
                fields: profile.personalFields,
                number: number,
                sealed: number.map(cipher.hasKey) ?? false
            )
        } else {
            entry.personal = .init(fields: profile.personalFields, number: nil, sealed: false)
        }
        entry.personalChanged = true
    }

    /// ``storeTombstone(_:_:)`` into `rows`.
    func cacheTombstone(_ profile: CustomerProfile, _ rows: ProfileRowCache) {
        let entry = self.changedEntry(profile.customerID, profile, rows)
        entry.profile = profile
        entry.personal = .init(fields: PersonalFields(), number: nil, sealed: false)
        entry.personalChanged = true
    }

    /// ``loadStats(_:_:)`` through `rows`.
    func cachedStats(_ customerID: String, _ rows: ProfileRowCache, _ txn: Transaction) throws -> ProfileStats? {
        try rows.stats.read(customerID) {
            try txn.get(self.profiles, ProfileKeys.statsKey(customerID)).map {
                try ProfileStats(decoding: $0, what: "stats of customer \(customerID)")
            }
        }
    }

    /// Writes every row of `rows` that changed in id order, profile and personal rows, then stats
    /// rows, and keeps them as unchanged.
    func flushRows(_ rows: ProfileRowCache, _ txn: Transaction) throws {
        rows.changed.sort()
        for id in rows.changed {
            if let entry = rows.profiles[id], entry.plainChanged || entry.personalChanged {
                if entry.plainChanged {
                    try self.putSealedRow(
                        entry.profile.encodedPlain(),
                        key: Array(id.utf8),
                        number: nil,
                        inherit: false,
                        txn
                    )
                }
                if entry.personalChanged, let personal = entry.personal, let fields = personal.fields {
                    var profile = entry.profile
                    profile.personalFields = fields
                    try self.putSealedRow(
                        profile.encodedPersonal(),
                        key: ProfileKeys.personalKey(id),
                        number: personal.number,
                        inherit: false,
                        txn
                    )
                }
                entry.plainChanged = false
                entry.personalChanged = false
            }
        }
        rows.changed.removeAll(keepingCapacity: true)
        try rows.stats.flush { id, stats in try txn.put(self.profiles, ProfileKeys.statsKey(id), stats.encoded()) }
    }
}
