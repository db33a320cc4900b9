import CRMDomain
public import CRMEventStore
public import LMDB

/// What a rebuild of the segment read model keeps in memory between the events of its chunks: every
/// customer's ``SegmentFacts``, decoded, which nearly every event of a customer changes, and the
/// decoded segments (``SegmentProjector/Context``), which every such event evaluates. A chunk folds
/// its events into these and writes each changed facts row once, in key order, when it ends (or
/// before a fold scans every customer's facts); the next chunk of the same rebuild takes them over.
/// Nothing else writes a slot that is being rebuilt, so the segments stay as the batch left them
/// until it writes one of them itself.
///
/// Used by the writer thread only (through one ``ProjectionBatch`` at a time); the projector that
/// holds it must be `Sendable`, hence `@unchecked`.
final class SegmentRowCache: @unchecked Sendable {
    /// Facts by customer id.
    var facts = HeldRows<SegmentFacts>()
    /// The context of the `segments` rows as they are; `nil` until decoded, and again after the batch
    /// wrote one of those rows.
    var context: SegmentProjector.Context?

    /// A cache that takes over what `previous` holds (all written: its chunk committed), unless it
    /// holds too many customers.
    init(takingOver previous: SegmentRowCache?) {
        guard let previous else { return }
        self.context = previous.context
        self.facts.takeOver(&previous.facts)
    }
}

extension SegmentProjector {
    /// A batch that keeps facts and the decoded segments in memory (``SegmentRowCache``), taking over
    /// those of `previous`.
    public func batch(after previous: (any ProjectionBatch)?) -> any ProjectionBatch {
        let rows = SegmentRowCache(takingOver: HeldBatch<Self, SegmentRowCache>.held(by: previous))
        var projector = self
        projector.rows = rows
        return HeldBatch(projector, held: rows) { rows, txn in try projector.flushFacts(rows, txn) }
    }

    /// Writes every facts row of `rows` that changed, in id order, and keeps them as unchanged.
    func flushFacts(_ rows: SegmentRowCache, _ txn: Transaction) throws {
        try rows.facts.flush { id, facts in try txn.put(self.facts, id, facts.encoded()) }
    }
}
