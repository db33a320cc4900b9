import CRMDomain

/// The stored form of a funnel item: a compact binary row (see `BinaryRowWriter`), read and written
/// whole. `deal.get` and the reports render the item's JSON (``FunnelItem/json``) at query time.
extension FunnelItem {
    /// Format of the row; bump it with the funnel read model's version.
    static let rowFormat: UInt8 = 2

    /// The item as a binary row.
    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 96 + 32 * self.visits.count)
        row.byte(FunnelItem.rowFormat)
        row.string(self.id)
        row.string(self.pipelineID)
        row.string(self.stage)
        row.string(self.kind)
        row.int(Int64(self.probability))
        row.bool(self.amount != nil)
        if let amount = self.amount { row.int128(amount.units) }
        row.optionalString(self.currency)
        row.optionalString(self.closeDate)
        row.optionalString(self.ownerID)
        row.strings(self.customerIDs)
        row.optionalString(self.source)
        row.optionalString(self.tier)
        row.int(self.createdAt)
        row.int(self.updatedAt)
        row.optionalInt(self.closedAt)
        row.optionalString(self.lostReason)
        row.optionalString(self.lastOpenStage)
        row.int(Int64(self.reopenCount))
        row.int(Int64(self.regressions))
        row.count(self.visits.count)
        for visit in self.visits {
            row.string(visit.stage)
            row.string(visit.kind)
            row.int(visit.enteredAt)
            row.optionalInt(visit.exitedAt)
            row.byte((visit.backward ? 1 : 0) | (visit.reopened ? 2 : 0))
            row.optionalString(visit.lastOpenStage)
        }
        row.int(self.version)
        return row.bytes
    }

    /// Decodes a row written by ``encoded()``; a malformed row is a storage error.
    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "funnel item")
        try row.format(FunnelItem.rowFormat)
        let id = try row.string()
        let pipelineID = try row.string()
        let stage = try row.string()
        let kind = try row.string()
        let probability = Int(try row.int())
        self.init(id: id, pipelineID: pipelineID, stage: stage, kind: kind, probability: probability, createdAt: 0,
            lastOpenStage: nil)
        self.amount = try row.bool() ? MoneyAmount(units: try row.int128()) : nil
        self.currency = try row.optionalString()
        self.closeDate = try row.optionalString()
        self.ownerID = try row.optionalString()
        self.customerIDs = try row.strings()
        self.source = try row.optionalString()
        self.tier = try row.optionalString()
        self.createdAt = try row.int()
        self.updatedAt = try row.int()
        self.closedAt = try row.optionalInt()
        self.lostReason = try row.optionalString()
        self.lastOpenStage = try row.optionalString()
        self.reopenCount = Int(try row.int())
        self.regressions = Int(try row.int())
        var visits: [FunnelVisit] = []
        for _ in 0..<(try row.count()) {
            let stage = try row.string()
            let kind = try row.string()
            let enteredAt = try row.int()
            let exitedAt = try row.optionalInt()
            let flags = try row.byte()
            visits.append(
                FunnelVisit(
                    stage: stage, kind: kind, enteredAt: enteredAt, exitedAt: exitedAt, backward: flags & 1 != 0,
                    reopened: flags & 2 != 0, lastOpenStage: try row.optionalString()
                )
            )
        }
        self.visits = visits
        self.version = try row.int()
        try row.finish()
    }
}
