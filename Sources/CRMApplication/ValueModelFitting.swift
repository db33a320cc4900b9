import CRMDomain
import CRMEventStore
public import CRMJSON
import CRMProjections
import Crypto
import Foundation
import LMDB
import Synchronization

/// `value.model.fit {currency, as_of_date, model_id?, first_order_from?, first_order_to?,
/// penalizer?}`, checked by the RPC edge (dates `YYYY-MM-DD`, `penalizer` finite ≥ 0).
public struct ValueFitRequest: Sendable, Hashable {
    public var modelID: String?
    public var currency: String
    public var asOfDate: String
    public var firstOrderFrom: String?
    public var firstOrderTo: String?
    public var penalizer: Double

    public init(
        modelID: String?,
        currency: String,
        asOfDate: String,
        firstOrderFrom: String?,
        firstOrderTo: String?,
        penalizer: Double
    ) {
        self.modelID = modelID
        self.currency = currency
        self.asOfDate = asOfDate
        self.firstOrderFrom = firstOrderFrom
        self.firstOrderTo = firstOrderTo
        self.penalizer = penalizer
    }
}

/// `rfm.snapshot {snapshot_id?, as_of_date?, window_days?, currency?}`, checked by the RPC edge.
public struct RfmSnapshotRequest: Sendable, Hashable {
    public var snapshotID: String?
    public var asOfDate: String?
    public var windowDays: Int?
    public var currency: String?

    public init(snapshotID: String?, asOfDate: String?, windowDays: Int?, currency: String?) {
        self.snapshotID = snapshotID
        self.asOfDate = asOfDate
        self.windowDays = windowDays
        self.currency = currency
    }
}

/// Fits lifetime-value models off the writer: the inputs come from the value read model in one read
/// transaction (a snapshot at `based_on_seq`), the optimiser runs on a thread of its own, and the
/// result is appended as one `ValueModelFitted` through the command pipeline. One fit runs at a time
/// (another is `fit_failed` with reason `busy`); ``progress`` feeds `system.stats`.
final class ValueModelFitter: Sendable {
    private struct Running {
        var request: ValueFitRequest
        var modelID: String
        var startedAt: Date
        var phase = "reading orders"
        var customers: Int?
        var iterations = 0
        var logLikelihood: Double?
    }

    private let running = Mutex<Running?>(nil)
    private let ids = UUIDv7Generator()

    /// `value_fit` of `system.stats`: the running fit, or `null`.
    var progress: JSON {
        guard let fit = self.running.withLock({ $0 }) else { return .null }
        return [
            "model_id": .string(fit.modelID), "currency": .string(fit.request.currency),
            "as_of_date": .string(fit.request.asOfDate), "phase": .string(fit.phase),
            "customers": fit.customers.map { .int(Int64($0)) } ?? .null, "iterations": .int(Int64(fit.iterations)),
            "log_likelihood": fit.logLikelihood.map { .double(($0 * 100).rounded() / 100) } ?? .null,
            "elapsed_seconds": .double((Date().timeIntervalSince(fit.startedAt) * 10).rounded() / 10),
        ]
    }

    /// Claims the fitter for `request` and returns the model id, or throws `fit_failed` (`busy`).
    func begin(_ request: ValueFitRequest) throws(Rejection) -> String {
        let modelID = request.modelID ?? self.ids.next(now: CRMCore.nowMillis())
        let claimed = self.running.withLock { running -> Running? in
            guard running == nil else { return running }
            running = Running(request: request, modelID: modelID, startedAt: Date())
            return nil
        }
        if let other = claimed {
            throw Rejection(
                .fitFailed,
                "another fit (\(other.modelID), \(other.request.currency) as of \(other.request.asOfDate)) is running; "
                    + "try again when it has finished",
                details: ["reason": "busy", "running": .string(other.modelID)]
            )
        }
        return modelID
    }

    /// Releases the fitter.
    func end() { self.running.withLock { $0 = nil } }

    /// Fits the model: reads the inputs from `storage`'s value read model, fits BG/NBD and, with at
    /// least two repeat customers of positive spend, Gamma-Gamma. Blocks for the whole fit.
    func fit(_ request: ValueFitRequest, modelID: String, storage: CoreStorage) throws -> ValueModelFitted {
        let (seq, inputs) = try storage.environment.read { txn -> (UInt64, [ModelInputs]) in
            let seq = try storage.store.head(txn).seq
            guard let value = try storage.runner.servingProjector(named: "value", txn) as? ValueProjector else {
                throw Rejection(.internalError, "the value read model is missing")
            }
            let inputs = try value.fitInputs(
                currency: request.currency, asOfDate: request.asOfDate, firstOrderFrom: request.firstOrderFrom,
                firstOrderTo: request.firstOrderTo, txn
            )
            return (seq, inputs)
        }
        let repeaters = inputs.count { $0.x > 0 }
        self.update { $0.customers = inputs.count }
        guard repeaters >= 2 else {
            throw Rejection(
                .insufficientData, field: "currency",
                "a fit needs at least 2 customers with a repeat purchase day in \(request.currency) by "
                    + "\(request.asOfDate); there \(repeaters == 1 ? "is 1" : "are \(repeaters)") among "
                    + "\(inputs.count) customers",
                details: ["needed": "2 customers with a repeat purchase", "repeaters": .int(Int64(repeaters))]
            )
        }
        let observe = { (progress: ValueFit.Progress) throws in
            try QueryCancellation.check()
            self.update {
                ($0.phase, $0.iterations, $0.logLikelihood) = (
                    progress.model, progress.iterations, progress.logLikelihood
                )
            }
        }
        do {
            self.update { $0.phase = "bgnbd" }
            let bgnbd = try ValueFit.fitBGNBD(inputs, penalizer: request.penalizer, observe: observe)
            var spend: ValueFit.Outcome<GammaGammaParameters>?
            if ValueFit.spenders(inputs) >= 2 {
                self.update { ($0.phase, $0.iterations) = ("gamma_gamma", 0) }
                spend = try ValueFit.fitGammaGamma(inputs, penalizer: request.penalizer, observe: observe)
            }
            let table = inputs.map(\.canonicalLine).joined()
            let digest = SHA256.hash(data: Array(table.utf8))
            let fit = ModelFit(
                asOfDate: request.asOfDate, basedOnSeq: seq, firstOrderFrom: request.firstOrderFrom,
                firstOrderTo: request.firstOrderTo, penalizer: request.penalizer, customers: inputs.count,
                repeaters: repeaters, sumX: Int(inputs.reduce(0) { $0 + $1.x }),
                bgnbdLogLikelihood: bgnbd.logLikelihood, gammaGammaLogLikelihood: spend?.logLikelihood,
                gammaGammaCustomers: spend == nil ? 0 : ValueFit.spenders(inputs),
                bgnbdIterations: bgnbd.iterations, gammaGammaIterations: spend?.iterations ?? 0,
                inputDigest: hexString(Array(digest))
            )
            return ValueModelFitted(
                modelID: modelID, source: "fitted", currency: request.currency, bgnbd: bgnbd.parameters,
                gammaGamma: spend?.parameters, fit: fit
            )
        } catch let failure as ValueFit.Failure {
            switch failure {
            case .noConvergence(let iterations):
                throw Rejection(
                    .fitFailed,
                    "the fit did not converge after \(iterations) iterations: the orders hold too little "
                        + "variation for the model (try a penalizer, or a longer history)",
                    details: ["reason": "no_convergence", "iterations": .int(Int64(iterations))]
                )
            case .singular:
                throw Rejection(
                    .fitFailed, "the fit ended at a = 1, where expected purchases are undefined",
                    details: ["reason": "singular"]
                )
            }
        }
    }

    private func update(_ change: (inout Running) -> Void) {
        self.running.withLock { running in
            if running != nil { change(&running!) }
        }
    }
}
