import CRMDomain
import CRMEventStore
import CRMJSON

/// One stay of a deal (or customer) in a stage.
struct FunnelVisit: Sendable, Hashable {
    /// Stage id.
    var stage: String
    /// Kind of the stage when it was entered.
    var kind: String
    /// When the stage was entered (UTC ms).
    var enteredAt: Int64
    /// When it was left, or `nil` while the item is still there.
    var exitedAt: Int64?
    /// Whether the visit began with a backward move (a regression).
    var backward: Bool = false
    /// Whether the visit began by reopening a closed item.
    var reopened: Bool = false
    /// For a visit to a lost stage: the open stage the item dropped out of.
    var lastOpenStage: String?

    var json: JSON {
        [
            "stage_id": .string(self.stage), "kind": .string(self.kind),
            "entered_at": .string(Timestamp.format(self.enteredAt)),
            "exited_at": .string(self.exitedAt.map(Timestamp.format)), "backward": .bool(self.backward),
            "reopened": .bool(self.reopened), "last_open_stage": .string(self.lastOpenStage),
        ]
    }

    init(
        stage: String,
        kind: String,
        enteredAt: Int64,
        exitedAt: Int64? = nil,
        backward: Bool = false,
        reopened: Bool = false,
        lastOpenStage: String? = nil
    ) {
        self.stage = stage
        self.kind = kind
        self.enteredAt = enteredAt
        self.exitedAt = exitedAt
        self.backward = backward
        self.reopened = reopened
        self.lastOpenStage = lastOpenStage
    }
}

/// The funnel state of one deal, or of one customer in the lifecycle funnel: where it
/// is, what it is worth, and every stage visit. Sets such as `entered`/`implied` are derived from the
/// visits when a report is computed, so the stored form stays one plain row.
struct FunnelItem: Sendable, Hashable {
    /// Deal id or customer id.
    var id: String
    /// Pipeline id, or `lifecycle`.
    var pipelineID: String
    /// Current stage.
    var stage: String
    /// Kind of the current stage.
    var kind: String
    /// Current probability.
    var probability: Int
    /// Amount, or `nil`.
    var amount: MoneyAmount?
    /// Currency, or `nil`.
    var currency: String?
    /// Expected close date.
    var closeDate: String?
    /// Owner id (deal owner, or customer owner in the lifecycle funnel).
    var ownerID: String?
    /// The deal's customers (empty in the lifecycle funnel).
    var customerIDs: [String] = []
    /// Customer source and tier (lifecycle funnel only; deals look up their primary customer).
    var source: String?
    var tier: String?
    /// Deal name (personal data, shown by `deal.get`).
    /// The deal's name: not part of the stored row (it is personal data, kept in the `names` table);
    /// set from there before the item is shown.
    var name: String?
    /// When the item was created.
    var createdAt: Int64
    /// Time of the last event folded.
    var updatedAt: Int64
    /// When it was last closed, while closed.
    var closedAt: Int64?
    /// Lost reason while lost.
    var lostReason: String?
    /// The open stage it was last in.
    var lastOpenStage: String?
    /// Times it was reopened.
    var reopenCount: Int = 0
    /// Backward moves among open stages.
    var regressions: Int = 0
    /// Every stage visit, in order.
    var visits: [FunnelVisit] = []
    /// Stream version of the last event folded.
    var version: Int64 = 0

    init(
        id: String,
        pipelineID: String,
        stage: String,
        kind: String,
        probability: Int,
        createdAt: Int64,
        lastOpenStage: String?
    ) {
        self.id = id
        self.pipelineID = pipelineID
        self.stage = stage
        self.kind = kind
        self.probability = probability
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.lastOpenStage = lastOpenStage
        self.visits = [FunnelVisit(stage: stage, kind: kind, enteredAt: createdAt, lastOpenStage: lastOpenStage)]
        if kind != "open" { self.closedAt = createdAt }
    }

    /// Whether the item is won (`true`), lost (`false`) or open (`nil`).
    var won: Bool? { self.kind == "won" ? true : self.kind == "lost" ? false : nil }

    /// Folds a stage change at `at`.
    mutating func move(
        to stage: String,
        kind: String,
        at: Int64,
        backward: Bool,
        reopened: Bool,
        lastOpenStage: String?,
        probability: Int,
        lostReason: String?
    ) {
        if let last = self.visits.indices.last, self.visits[last].exitedAt == nil { self.visits[last].exitedAt = at }
        self.visits.append(
            FunnelVisit(
                stage: stage,
                kind: kind,
                enteredAt: at,
                backward: backward,
                reopened: reopened,
                lastOpenStage: kind == "lost" ? lastOpenStage : nil
            )
        )
        if backward { self.regressions += 1 }
        if reopened { self.reopenCount += 1 }
        self.stage = stage
        self.kind = kind
        self.probability = probability
        self.lastOpenStage = lastOpenStage ?? self.lastOpenStage
        self.closedAt = kind == "open" ? nil : at
        self.lostReason = kind == "lost" ? lostReason : nil
        self.updatedAt = at
    }

    // MARK: - JSON form

    /// The item as `deal.get` and the reports show it (it is stored as a binary row, see
    /// FunnelItemRow.swift).
    var json: JSON {
        var cumulative: [String: Int64] = [:]
        var latest: [String: Int64] = [:]
        for visit in self.visits {
            guard let exited = visit.exitedAt else { continue }
            cumulative[visit.stage, default: 0] += exited - visit.enteredAt
            latest[visit.stage] = exited - visit.enteredAt
        }
        var timeInStage: [String: JSON] = [:]
        for (stage, total) in cumulative {
            timeInStage[stage] = [
                "cumulative_seconds": .double(Double(total) / 1000),
                "latest_seconds": .double(Double(latest[stage]!) / 1000),
            ]
        }
        let isLifecycle = self.pipelineID == PipelineDefinition.lifecycleID
        var document: [String: JSON] = [
            isLifecycle ? "customer_id" : "deal_id": .string(self.id),
            "pipeline_id": .string(self.pipelineID),
            "stage_id": .string(self.stage),
            "kind": .string(self.kind),
            "probability": .int(self.probability),
            "owner_id": .string(self.ownerID),
            "created_at": .string(Timestamp.format(self.createdAt)),
            "updated_at": .string(Timestamp.format(self.updatedAt)),
            "closed_at": .string(self.closedAt.map(Timestamp.format)),
            "won": self.won.map(JSON.bool) ?? .null,
            "last_open_stage": .string(self.lastOpenStage),
            "reopen_count": .int(self.reopenCount),
            "regressions": .int(self.regressions),
            "visits": .array(self.visits.map(\.json)),
            "time_in_stage": .object(timeInStage),
            "version": .int(self.version),
        ]
        if isLifecycle {
            document["source"] = .string(self.source)
            document["tier"] = .string(self.tier)
        } else {
            document["name"] = .string(self.name)
            document["amount"] = self.amount?.json ?? .null
            document["currency"] = .string(self.currency)
            document["close_date"] = .string(self.closeDate)
            document["customer_ids"] = .strings(self.customerIDs)
            document["lost_reason"] = .string(self.lostReason)
        }
        return .object(document)
    }
}

extension PipelineDefinition {
    /// `last_open_stage` after a move from (`fromStage`, `fromKind`) into a stage of `toKind` (EspoCRM
    /// `LastStage`): the target when open, the source when it was open, the open stage with
    /// the highest probability for won → lost, else unchanged.
    func lastOpenStage(
        from fromStage: String,
        fromKind: String,
        to toStage: String,
        toKind: String,
        current: String?
    )
        -> String?
    {
        switch (fromKind, toKind) {
        case (_, "open"): return toStage
        case ("open", _): return fromStage
        case ("won", "lost"): return self.highestProbabilityOpenStage?.id ?? current
        default: return current
        }
    }

    /// `last_open_stage` of an item created in `stage` of `kind`.
    func initialLastOpenStage(_ stage: String, kind: String) -> String? {
        switch kind {
        case "open": return stage
        case "lost": return self.lowestProbabilityOpenStage?.id
        default: return self.highestProbabilityOpenStage?.id
        }
    }
}
