import CRMDomain
import CRMJSON

/// The options of `funnel.report`.
struct FunnelReportOptions: Sendable, Hashable {
    /// Start of the range (inclusive, UTC ms), or `nil` for no lower bound.
    var from: Int64?
    /// End of the range (exclusive, UTC ms), or `nil` for no upper bound.
    var to: Int64?
    /// `implied`, `strict` or `any`: which count is reported as `count`.
    var mode: String = "implied"
    /// `created` (items created in the range) or `entered` (items that entered any stage in the range).
    var cohort: String = "created"
    /// `owner`, `source`, `tier`, or `nil`.
    var groupBy: String?
    /// Only items in this currency, or `nil` for all.
    var currency: String?
    /// Items in an open stage for longer than this many days at `to` count as stale.
    var staleAfterDays: Int?
    /// The time `stale` is measured at when `to` is absent.
    var now: Int64 = 0

    /// Whether `time` lies in [from, to).
    func contains(_ time: Int64) -> Bool {
        if let from = self.from, time < from { return false }
        if let to = self.to, time >= to { return false }
        return true
    }
}

/// Computes funnel reports and snapshots from funnel items. Pure: the same items give the same
/// JSON, which is what makes a rebuilt projection answer exactly like the inline one.
struct FunnelReport {
    /// The pipeline reported on.
    let pipeline: PipelineDefinition

    /// The funnel columns: the open stages in order, then one won column (the first won stage's id and
    /// name; entering any won stage counts for it).
    var columns: [PipelineDefinition.Stage] {
        var columns = self.pipeline.openStages
        if let won = self.pipeline.stages.first(where: { $0.kind == "won" }) { columns.append(won) }
        return columns
    }

    /// The column index of a visit to `stage` of `kind`, or `nil` (lost stages, unknown stages).
    func column(_ stage: String, kind: String) -> Int? {
        if kind == "won" {
            return self.pipeline.stages.contains { $0.kind == "won" } ? self.pipeline.openStages.count : nil
        }
        guard kind == "open" else { return nil }
        return self.pipeline.openOrder(stage)
    }

    // MARK: - Per-item sets

    /// Columns the item ever entered (`any`).
    func entered(_ item: FunnelItem) -> Set<Int> {
        Set(item.visits.compactMap { self.column($0.stage, kind: $0.kind) })
    }

    /// Columns passed with skipped stages implied (`implied`): every column up to an entered open stage,
    /// all columns once won, columns up to `last_open_stage` when lost; always a superset of `entered`.
    func implied(_ item: FunnelItem) -> Set<Int> {
        var columns = self.entered(item)
        let wonColumn = self.pipeline.openStages.count
        for visit in item.visits {
            let top: Int?
            switch visit.kind {
            case "open": top = self.pipeline.openOrder(visit.stage)
            case "won": top = self.column(visit.stage, kind: "won").map { _ in wonColumn }
            default: top = visit.lastOpenStage.flatMap { self.pipeline.openOrder($0) }
            }
            if let top { columns.formUnion(0...top) }
        }
        return columns
    }

    /// Columns passed in order without skipping (`strict`): the longest run of columns 0, 1, 2 … the
    /// item entered one after another; the first skip ends the run, moving back or into a lost stage
    /// does not.
    func strict(_ item: FunnelItem) -> Set<Int> {
        var depth = 0
        for visit in item.visits {
            guard let column = self.column(visit.stage, kind: visit.kind) else { continue }
            if column == depth {
                depth += 1
            } else if column > depth {
                break
            }
        }
        return Set(0..<depth)
    }

    // MARK: - Report

    /// The full report: the body over every item, plus one body per group with `group_by`.
    func report(_ items: [FunnelItem], options: FunnelReportOptions, groupKey: (FunnelItem) -> String?) -> JSON {
        let filtered = items.filter { options.currency == nil || $0.currency == options.currency }
        var result = self.body(filtered, options)
        result["pipeline_id"] = .string(self.pipeline.id)
        result["pipeline_version"] = .int(self.pipeline.version)
        result["mode"] = .string(options.mode)
        result["cohort"] = .string(options.cohort)
        result["from"] = .string(options.from.map(Timestamp.format))
        result["to"] = .string(options.to.map(Timestamp.format))
        result["currency"] = .string(options.currency)
        result["group_by"] = .string(options.groupBy)
        if options.groupBy != nil {
            var groups: [String?: [FunnelItem]] = [:]
            for item in filtered { groups[groupKey(item), default: []].append(item) }
            let keys = groups.keys.sorted { ($0 == nil ? 1 : 0, $0 ?? "") < ($1 == nil ? 1 : 0, $1 ?? "") }
            result["groups"] = .array(
                keys.map { key in
                    var body = self.body(groups[key]!, options)
                    body["key"] = .string(key)
                    return .object(body)
                }
            )
        }
        return .object(result)
    }

    /// The report members for one set of items.
    func body(_ items: [FunnelItem], _ options: FunnelReportOptions) -> [String: JSON] {
        let columns = self.columns
        let cohort = items.filter { item in
            options.cohort == "entered"
                ? item.visits.contains { options.contains($0.enteredAt) } : options.contains(item.createdAt)
        }
        var any = [Int](repeating: 0, count: columns.count)
        var strict = any
        var implied = any
        for item in cohort {
            for column in self.entered(item) { any[column] += 1 }
            for column in self.strict(item) { strict[column] += 1 }
            for column in self.implied(item) { implied[column] += 1 }
        }
        let counts = options.mode == "any" ? any : options.mode == "strict" ? strict : implied

        // Regressions, reopens and time in stage come from visits in the range.
        var regressions: [String: Int] = [:]
        var reopens: [String: Int] = [:]
        var durations: [String: [Int64]] = [:]
        for item in items {
            var perStage: [String: Int64] = [:]
            for visit in item.visits {
                if options.contains(visit.enteredAt) {
                    if visit.backward { regressions[visit.stage, default: 0] += 1 }
                    if visit.reopened { reopens[visit.stage, default: 0] += 1 }
                }
                if let exited = visit.exitedAt, options.contains(exited) {
                    perStage[visit.stage, default: 0] += exited - visit.enteredAt
                }
            }
            for (stage, total) in perStage { durations[stage, default: []].append(total) }
        }
        let staleAt = options.to ?? options.now

        var stages: [JSON] = []
        for (index, stage) in columns.enumerated() {
            let next: JSON = index + 1 < columns.count ? FunnelReport.percent(counts[index + 1], counts[index]) : .null
            var entry: [String: JSON] = [
                "stage_id": .string(stage.id), "name": .string(stage.name), "kind": .string(stage.kind),
                "count": .int(counts[index]), "any": .int(any[index]), "strict": .int(strict[index]),
                "implied": .int(implied[index]), "next_step_conversion": next,
                "cumulative_conversion": FunnelReport.percent(counts[index], counts.first ?? 0),
                "regressions": .int(regressions[stage.id] ?? 0), "reopens": .int(reopens[stage.id] ?? 0),
            ]
            if stage.kind == "open" {
                var time = FunnelReport.distribution(durations[stage.id] ?? [])
                if let days = options.staleAfterDays {
                    let limit = Int64(days) * 86_400_000
                    time["stale"] = .int(
                        items.filter { item in
                            item.stage == stage.id && item.kind == "open"
                                && (item.visits.last.map { staleAt - $0.enteredAt > limit } ?? false)
                        }.count
                    )
                }
                entry["time_in_stage"] = .object(time)
            }
            stages.append(.object(entry))
        }

        // Outcomes of the cohort.
        let won = cohort.filter { $0.kind == "won" }.count
        let lost = cohort.filter { $0.kind == "lost" }
        var lostByStage: [String: JSON] = [:]
        for item in lost {
            let stage = item.lastOpenStage ?? "unknown"
            lostByStage[stage] = .int((lostByStage[stage]?.intValue ?? 0) + 1)
        }

        // Win rate and cycle length over items closed in the range.
        let closed = items.filter { item in item.closedAt.map(options.contains) ?? false }
        let closedWon = closed.filter { $0.kind == "won" }
        let closedLost = closed.filter { $0.kind == "lost" }.count
        let decided = closedWon.count + closedLost
        let winRate: Double? = decided == 0 ? nil : Double(closedWon.count) / Double(decided)
        let cycleMillis = closedWon.map { ($0.closedAt ?? $0.createdAt) - $0.createdAt }
        let avgCycleMillis: Double? =
            cycleMillis.isEmpty ? nil : Double(cycleMillis.reduce(0, +)) / Double(cycleMillis.count)

        // Velocity per currency: open deals × average won amount × win rate / average cycle days.
        var velocity: [String: JSON] = [:]
        var wonAmounts: [String: [MoneyAmount]] = [:]
        for item in closedWon {
            if let amount = item.amount, let currency = item.currency {
                wonAmounts[currency, default: []].append(amount)
            }
        }
        let open = items.filter { $0.kind == "open" }
        if let winRate, let avgCycleMillis, avgCycleMillis > 0 {
            for (currency, amounts) in wonAmounts {
                let openCount = open.filter { $0.currency == currency }.count
                let average = amounts.reduce(0.0) { $0 + $1.doubleValue } / Double(amounts.count)
                let perDay = Double(openCount) * average * winRate / (avgCycleMillis / 86_400_000)
                velocity[currency] = .double(FunnelReport.rounded(perDay, places: 2))
            }
        }

        return [
            "cohort_size": .int(cohort.count),
            "stages": .array(stages),
            "won": .int(won),
            "lost": .int(lost.count),
            "open": .int(cohort.count - won - lost.count),
            "lost_by_stage": .object(lostByStage),
            "win_rate": [
                "won": .int(closedWon.count), "lost": .int(closedLost),
                "rate": winRate.map { .double(FunnelReport.rounded($0 * 100, places: 1)) } ?? .null,
            ],
            "cycle_length": [
                "deals": .int(cycleMillis.count),
                "avg_seconds": avgCycleMillis.map { .double(FunnelReport.rounded($0 / 1000, places: 3)) } ?? .null,
                "avg_days": avgCycleMillis.map { .double(FunnelReport.rounded($0 / 86_400_000, places: 2)) } ?? .null,
            ],
            "velocity": [
                "open_count": .int(open.count), "per_day": .object(velocity),
            ],
            "regressions": .int(regressions.values.reduce(0, +)),
            "reopens": .int(reopens.values.reduce(0, +)),
        ]
    }

    // MARK: - Snapshot

    /// Per stage: open deals, their amounts and weighted amounts per currency (closed stages report the
    /// deals sitting in them), plus totals over open stages.
    func snapshot(_ items: [FunnelItem]) -> JSON {
        var stages: [JSON] = []
        var totalCount = 0
        var totalAmount: [String: Int128] = [:]
        var totalWeighted: [String: Int128] = [:]
        for stage in self.pipeline.stages {
            let here = items.filter { $0.stage == stage.id }
            var amount: [String: Int128] = [:]
            var weighted: [String: Int128] = [:]
            for item in here {
                guard let value = item.amount, let currency = item.currency else { continue }
                amount[currency, default: 0] += value.units
                weighted[currency, default: 0] += value.units * Int128(item.probability)
            }
            var entry: [String: JSON] = [
                "stage_id": .string(stage.id), "name": .string(stage.name), "kind": .string(stage.kind),
                "probability": .int(stage.probability),
            ]
            if stage.kind == "open" {
                totalCount += here.count
                for (currency, value) in amount { totalAmount[currency, default: 0] += value }
                for (currency, value) in weighted { totalWeighted[currency, default: 0] += value }
                entry["open_count"] = .int(here.count)
                entry["open_amount"] = FunnelReport.amounts(amount, scale: MoneyAmount.scale)
                entry["weighted_amount"] = FunnelReport.amounts(weighted, scale: MoneyAmount.scale + 2)
            } else {
                entry["closed_count"] = .int(here.count)
                entry["closed_amount"] = FunnelReport.amounts(amount, scale: MoneyAmount.scale)
            }
            stages.append(.object(entry))
        }
        return [
            "pipeline_id": .string(self.pipeline.id),
            "pipeline_version": .int(self.pipeline.version),
            "stages": .array(stages),
            "open_count": .int(totalCount),
            "open_amount": FunnelReport.amounts(totalAmount, scale: MoneyAmount.scale),
            "weighted_amount": FunnelReport.amounts(totalWeighted, scale: MoneyAmount.scale + 2),
        ]
    }

    // MARK: - Number helpers

    /// `{currency: canonical decimal string}`.
    static func amounts(_ values: [String: Int128], scale: Int) -> JSON {
        .object(values.mapValues { .string(MoneyAmount.format($0, scale: scale)) })
    }

    /// `part / whole` in percent rounded to one decimal, or `null` when `whole` is 0.
    static func percent(_ part: Int, _ whole: Int) -> JSON {
        guard whole > 0 else { return .null }
        return .double(FunnelReport.rounded(Double(part) * 100 / Double(whole), places: 1))
    }

    /// `value` rounded half away from zero to `places` decimals.
    static func rounded(_ value: Double, places: Int) -> Double {
        var factor = 1.0
        for _ in 0..<places { factor *= 10 }
        return (value * factor).rounded() / factor
    }

    /// `{count, avg_seconds, median_seconds, p90_seconds}` of per-item durations in ms (`null`s when
    /// empty). The median averages the two middle values; p90 is the nearest rank.
    static func distribution(_ millis: [Int64]) -> [String: JSON] {
        guard !millis.isEmpty else {
            return ["count": 0, "avg_seconds": nil, "median_seconds": nil, "p90_seconds": nil]
        }
        let sorted = millis.sorted()
        let count = sorted.count
        let average = Double(sorted.reduce(0, +)) / Double(count) / 1000
        let median =
            count % 2 == 1
            ? Double(sorted[count / 2]) / 1000 : Double(sorted[count / 2 - 1] + sorted[count / 2]) / 2000
        var rank = (count * 90 + 99) / 100
        rank = min(max(rank, 1), count)
        let p90 = Double(sorted[rank - 1]) / 1000
        return [
            "count": .int(count), "avg_seconds": .double(FunnelReport.rounded(average, places: 3)),
            "median_seconds": .double(FunnelReport.rounded(median, places: 3)),
            "p90_seconds": .double(FunnelReport.rounded(p90, places: 3)),
        ]
    }
}
