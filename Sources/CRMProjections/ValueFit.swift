import CRMDomain
import Foundation

/// Maximum-likelihood fits of BG/NBD (Fader, Hardie & Lee 2005, eq. 6) and Gamma-Gamma (Fader &
/// Hardie 2013) by Nelder–Mead on the logarithms of the parameters, so every step stays positive.
///
/// Both objectives are the mean negative log-likelihood plus `penalizer` × Σ parameter² (lifetimes'
/// L2 penalty), evaluated on inputs grouped by their distinct values: the log-gamma terms depend on
/// `x` alone and are computed once per distinct `x` and step, so a step costs a few logarithms per
/// distinct customer.
public enum ValueFit {
    /// Where a fit is, for a progress line: the model being fitted, the optimiser's iterations so far
    /// and the best log-likelihood.
    public struct Progress: Sendable, Hashable {
        public var model: String
        public var iterations: Int
        public var logLikelihood: Double
    }

    /// A fitted model: parameters, log-likelihood at them, iterations.
    public struct Outcome<Parameters: Sendable & Hashable>: Sendable, Hashable {
        public var parameters: Parameters
        public var logLikelihood: Double
        public var iterations: Int
    }

    /// Why a fit failed (`fit_failed`, `details.reason`).
    public enum Failure: Error, Sendable, Hashable {
        /// The optimiser did not settle within ``NelderMead/maxIterations``.
        case noConvergence(iterations: Int)
        /// BG/NBD's `a` came out at 1, where expected purchases are singular.
        case singular
    }

    // MARK: - BG/NBD

    /// The BG/NBD log-likelihood of `inputs` (FHL 2005 eq. 6 with the last two terms added in
    /// log-sum-exp form, which cannot overflow; Fader & Hardie's note 027).
    public static func bgnbdLogLikelihood(_ m: BGNBDParameters, _ inputs: [ModelInputs]) -> Double {
        BGNBDObjective(inputs).logLikelihood(m)
    }

    /// Fits BG/NBD to `inputs` from ``ModelFit/bgnbdStart``. `observe` sees the progress every 50
    /// iterations and may throw to stop the fit (cancellation).
    public static func fitBGNBD(
        _ inputs: [ModelInputs],
        penalizer: Double = 0,
        observe: (Progress) throws -> Void = { _ in }
    ) throws -> Outcome<BGNBDParameters> {
        let objective = BGNBDObjective(inputs)
        let start = ModelFit.bgnbdStart
        let fitted: Outcome<BGNBDParameters> = try Self.maximise(
            "bgnbd", start: [start.r, start.alpha, start.a, start.b], customers: inputs.count, penalizer: penalizer,
            observe: observe
        ) { p in objective.logLikelihood(BGNBDParameters(p)) }
        guard abs(fitted.parameters.a - 1) >= 1e-6 else { throw Failure.singular }
        return fitted
    }

    /// Maximises `logLikelihood` (of parameters, over `customers`) by Nelder–Mead on the logarithms
    /// of the parameters from `start`, with the L2 `penalizer`.
    private static func maximise<Parameters>(
        _ model: String,
        start: [Double],
        customers: Int,
        penalizer: Double,
        observe: (Progress) throws -> Void,
        logLikelihood: ([Double]) -> Double
    ) throws -> Outcome<Parameters> where Parameters: ModelParameters {
        let n = Double(max(customers, 1))
        let result = try NelderMead.minimize(start: start.map(log)) { point in
            let p = point.map(exp)
            return -logLikelihood(p) / n + penalizer * p.reduce(0) { $0 + $1 * $1 }
        } observe: { iterations, value in
            try observe(Progress(model: model, iterations: iterations, logLikelihood: -value * n))
        }
        guard result.converged else { throw Failure.noConvergence(iterations: result.iterations) }
        let p = result.point.map(exp)
        return Outcome(parameters: Parameters(p), logLikelihood: logLikelihood(p), iterations: result.iterations)
    }

    // MARK: - Gamma-Gamma

    /// The Gamma-Gamma log-likelihood of the customers in `inputs` with a repeat purchase of
    /// positive mean value (FH 2013); the others carry no spend information.
    public static func gammaGammaLogLikelihood(_ g: GammaGammaParameters, _ inputs: [ModelInputs]) -> Double {
        GammaGammaObjective(inputs).logLikelihood(g)
    }

    /// The customers Gamma-Gamma is fitted on: a repeat purchase of positive mean value.
    public static func spenders(_ inputs: [ModelInputs]) -> Int { inputs.count { $0.x > 0 && $0.mean > 0 } }

    /// Fits Gamma-Gamma to the repeat customers of `inputs` from ``ModelFit/gammaGammaStart``.
    public static func fitGammaGamma(
        _ inputs: [ModelInputs],
        penalizer: Double = 0,
        observe: (Progress) throws -> Void = { _ in }
    ) throws -> Outcome<GammaGammaParameters> {
        let objective = GammaGammaObjective(inputs)
        let start = ModelFit.gammaGammaStart
        return try Self.maximise(
            "gamma_gamma", start: [start.p, start.q, start.gamma], customers: objective.count, penalizer: penalizer,
            observe: observe
        ) { p in objective.logLikelihood(GammaGammaParameters(p)) }
    }
}

/// Parameters built from the optimiser's point, in their published order.
protocol ModelParameters: Sendable, Hashable {
    init(_ values: [Double])
}

extension BGNBDParameters: ModelParameters {
    init(_ values: [Double]) { self.init(r: values[0], alpha: values[1], a: values[2], b: values[3]) }
}

extension GammaGammaParameters: ModelParameters {
    init(_ values: [Double]) { self.init(p: values[0], q: values[1], gamma: values[2]) }
}

/// The BG/NBD log-likelihood over grouped inputs.
private struct BGNBDObjective {
    /// One group of customers with equal inputs.
    struct Row {
        var x: Int
        /// The index of `x` in ``xs``.
        var slot = 0
        var tx: Double
        var T: Double
        var count: Double
    }

    let rows: [Row]
    /// The distinct `x` values (the per-step tables are indexed like them).
    let xs: [Int]

    init(_ inputs: [ModelInputs]) {
        var groups: [ModelInputs: Double] = [:]
        for input in inputs { groups[ModelInputs(x: input.x, tx: input.tx, T: input.T, mean: 0), default: 0] += 1 }
        var rows = groups.map { Row(x: Int($0.key.x), tx: $0.key.tx, T: $0.key.T, count: $0.value) }
            .sorted { ($0.x, $0.tx, $0.T) < ($1.x, $1.tx, $1.T) }
        self.xs = distinctX(&rows, \.x, \.slot)
        self.rows = rows
    }

    func logLikelihood(_ m: BGNBDParameters) -> Double {
        let (r, alpha, a, b) = (m.r, m.alpha, m.a, m.b)
        // A1 + A2 and ln a − ln(b + x − 1) for each distinct x.
        let fixed = lgamma(r) - r * log(alpha) + lgamma(b) - lgamma(a + b)
        var head = [Double](repeating: 0, count: self.xs.count)
        var dropout = [Double](repeating: 0, count: self.xs.count)
        for (index, x) in self.xs.enumerated() {
            let xd = Double(x)
            head[index] = lgamma(r + xd) + lgamma(b + xd) - lgamma(a + b + xd) - fixed
            dropout[index] = x > 0 ? log(a) - log(b + xd - 1) : 0
        }
        var total = 0.0
        for row in self.rows {
            let index = row.slot
            let rx = r + Double(row.x)
            let a3 = -rx * log(alpha + row.T)
            var ll = head[index] + a3
            if row.x > 0 {
                let a4 = dropout[index] - rx * log(alpha + row.tx)
                let high = max(a3, a4)
                ll = head[index] + high + log1p(exp(min(a3, a4) - high))
            }
            total += row.count * ll
        }
        return total.isNaN ? -.infinity : total
    }
}

/// The Gamma-Gamma log-likelihood over the customers with a repeat purchase of positive mean value.
private struct GammaGammaObjective {
    struct Row {
        var x: Int
        /// The index of `x` in ``xs``.
        var slot = 0
        var mean: Double
        var logMean: Double
    }

    let rows: [Row]
    let xs: [Int]
    var count: Int { self.rows.count }

    init(_ inputs: [ModelInputs]) {
        var rows = inputs.filter { $0.x > 0 && $0.mean > 0 }.map {
            Row(x: Int($0.x), mean: $0.mean, logMean: log($0.mean))
        }
        self.xs = distinctX(&rows, \.x, \.slot)
        self.rows = rows
    }

    func logLikelihood(_ g: GammaGammaParameters) -> Double {
        let (p, q, gamma) = (g.p, g.q, g.gamma)
        let fixed = -lgamma(q) + q * log(gamma)
        // lnΓ(px + q) − lnΓ(px) + px·ln x for each distinct x.
        var head = [Double](repeating: 0, count: self.xs.count)
        for (index, x) in self.xs.enumerated() {
            let px = p * Double(x)
            head[index] = lgamma(px + q) - lgamma(px) + px * log(Double(x)) + fixed
        }
        var total = 0.0
        for row in self.rows {
            let px = p * Double(row.x)
            total += head[row.slot] + (px - 1) * row.logMean - (px + q) * log(gamma + Double(row.x) * row.mean)
        }
        return total.isNaN ? -.infinity : total
    }
}

/// The distinct `x` values of `rows`, ascending; sets each row's `slot` to the index of its `x` there,
/// so that a likelihood step reads its per-`x` terms without a lookup.
private func distinctX<Row>(_ rows: inout [Row], _ x: KeyPath<Row, Int>, _ slot: WritableKeyPath<Row, Int>) -> [Int] {
    let values = Array(Set(rows.map { $0[keyPath: x] })).sorted()
    let index = Dictionary(uniqueKeysWithValues: values.enumerated().map { ($0.element, $0.offset) })
    for row in rows.indices { rows[row][keyPath: slot] = index[rows[row][keyPath: x]]! }
    return values
}

/// The Nelder–Mead simplex method (reflection 1, expansion 2, contraction ½, shrink ½) for a few
/// parameters. It stops when the objective's spread over the simplex is below ``tolerance``, then
/// restarts from the best point with a fresh simplex (a collapsed simplex can stall short of the
/// minimum on a flat ridge) and stops for good when a restart gains less than the tolerance. It gives
/// up after ``maxIterations``, or sooner when the best value has not improved for ``stallIterations``
/// (the simplex drifts along a ridge to infinity: the data hold no heterogeneity for a parameter).
enum NelderMead {
    static let tolerance = 1e-10
    static let maxIterations = 20_000
    static let stallIterations = 2_000
    /// The first simplex: the start, and the start moved by this much along each axis.
    static let step = 0.5

    struct Result {
        var point: [Double]
        var value: Double
        var iterations: Int
        var converged: Bool
    }

    static func minimize(
        start: [Double],
        _ f: ([Double]) -> Double,
        observe: (Int, Double) throws -> Void
    ) throws -> Result {
        func value(_ point: [Double]) -> Double {
            let v = f(point)
            return v.isFinite ? v : .infinity
        }
        var best = Result(point: start, value: value(start), iterations: 0, converged: false)
        var restarts = 0
        while true {
            let previous = best.value
            best = try Self.run(from: best, value, observe: observe)
            guard best.converged else { return best }
            if restarts == 2 || previous - best.value < Self.tolerance { return best }
            restarts += 1
        }
    }

    /// One run from `start.point` until the simplex settles or the iterations run out.
    private static func run(
        from start: Result,
        _ f: ([Double]) -> Double,
        observe: (Int, Double) throws -> Void
    ) throws -> Result {
        let n = start.point.count
        var simplex = [start.point]
        for axis in 0..<n {
            var point = start.point
            point[axis] += Self.step
            simplex.append(point)
        }
        var values = simplex.map(f)
        var iterations = start.iterations
        var (lastGain, bestSoFar) = (iterations, start.value)
        func combine(_ a: [Double], _ b: [Double], _ t: Double) -> [Double] { zip(a, b).map { $0 + t * ($1 - $0) } }
        while iterations < Self.maxIterations {
            let order = values.indices.sorted { values[$0] < values[$1] }
            simplex = order.map { simplex[$0] }
            values = order.map { values[$0] }
            if values[n] - values[0] < Self.tolerance {
                return Result(point: simplex[0], value: values[0], iterations: iterations, converged: true)
            }
            if values[0] < bestSoFar - Self.tolerance { (lastGain, bestSoFar) = (iterations, values[0]) }
            if iterations - lastGain >= Self.stallIterations { break }
            iterations += 1
            if iterations % 50 == 0 { try observe(iterations, values[0]) }
            var centroid = [Double](repeating: 0, count: n)
            for point in simplex[0..<n] { for i in 0..<n { centroid[i] += point[i] / Double(n) } }
            let worst = simplex[n]
            let reflected = combine(centroid, worst, -1)
            let fr = f(reflected)
            if fr < values[0] {
                let expanded = combine(centroid, worst, -2)
                let fe = f(expanded)
                (simplex[n], values[n]) = fe < fr ? (expanded, fe) : (reflected, fr)
            } else if fr < values[n - 1] {
                (simplex[n], values[n]) = (reflected, fr)
            } else {
                let outside = fr < values[n]
                let contracted = combine(centroid, outside ? reflected : worst, 0.5)
                let fc = f(contracted)
                if fc < (outside ? fr : values[n]) {
                    (simplex[n], values[n]) = (contracted, fc)
                } else {
                    for i in 1...n {
                        simplex[i] = combine(simplex[0], simplex[i], 0.5)
                        values[i] = f(simplex[i])
                    }
                }
            }
        }
        let index = values.indices.min { values[$0] < values[$1] }!
        return Result(point: simplex[index], value: values[index], iterations: iterations, converged: false)
    }
}
