import CRMDomain
import Foundation
import Testing

@testable import CRMProjections

/// The log-likelihoods and the optimiser behind `value.model.fit`.
@Suite struct ValueFitTests {
    /// Six customers' (x, t_x, T, m̄).
    static let inputs = [
        ModelInputs(x: 0, tx: 0, T: 10, mean: 0), ModelInputs(x: 1, tx: 2, T: 12, mean: 20),
        ModelInputs(x: 2, tx: 10.5, T: 38, mean: 35.5), ModelInputs(x: 5, tx: 30, T: 39, mean: 12.25),
        ModelInputs(x: 0, tx: 0, T: 2, mean: 0), ModelInputs(x: 3, tx: 20, T: 25, mean: 60),
    ]

    /// The predictions' text is C's `%.4f`, as Foundation's `String(format:)` wrote it before.
    @Test func predictionsReadAsFoundationFormattedThem() {
        let edges: [Double] = [
            0, -0.0, 1, -1, 0.00005, 0.00015, 0.00025, 2.5e-5, 1.23455, 0.99995, 123_456.78905, 1e-300, 1e300,
            -1e300, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, .infinity,
            -.infinity, .nan, -.leastNonzeroMagnitude, .leastNormalMagnitude, 1e14, -1e14, 99_999_999_999_999.99,
            99_999_999_999_999.995, 1e14.nextDown, 9_007_199_254_740_993, 0.5, 1.5, 2.5, 0.000049999999999999996,
        ]
        // Binary fractions (exact halves at the fifth decimal among them), spread over magnitudes.
        let spread = (0..<2_000).map { (index: Int) -> Double in
            let numerator = Double(index * 7_919 % 100_003 - 50_000)
            return numerator / Double(1 << (index % 41))
        }
        // Decimals of five places (near ties, not exact ones) and any bit pattern at all, from a fixed
        // sequence (a 64-bit LCG).
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state
        }
        let decimals = (0..<3_000).map { _ in Double(Int64(bitPattern: next()) % 10_000_000_000) / 100_000 }
        let patterns = (0..<3_000).map { _ in Double(bitPattern: next()) }
        for value in edges + spread + decimals + patterns {
            #expect(ValueModel.text(value) == String(format: "%.4f", value), "\(value)")
        }
    }

    /// lifetimes 0.11.3 gives −42.08399528602993 (`BetaGeoFitter._negative_log_likelihood` × 6) and
    /// −17.0686383108675 (`GammaGammaFitter`, × 4) for these inputs at the CDNOW parameters.
    @Test func logLikelihoodsMatchLifetimes() {
        let bgnbd = BGNBDParameters(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)
        #expect(abs(ValueFit.bgnbdLogLikelihood(bgnbd, Self.inputs) - -42.08399528602993) < 1e-9)
        let spend = GammaGammaParameters(p: 6.25, q: 3.74, gamma: 15.44)
        #expect(abs(ValueFit.gammaGammaLogLikelihood(spend, Self.inputs) - -17.0686383108675) < 1e-9)
        #expect(ValueFit.spenders(Self.inputs) == 4)
    }

    /// Equal inputs are grouped: the likelihood of a population is the sum over its customers.
    @Test func groupedInputsAddUp() {
        let bgnbd = BGNBDParameters(r: 0.5, alpha: 2, a: 0.7, b: 3)
        let once = ValueFit.bgnbdLogLikelihood(bgnbd, Self.inputs)
        let twice = ValueFit.bgnbdLogLikelihood(bgnbd, Self.inputs + Self.inputs)
        #expect(abs(twice - 2 * once) < 1e-9)
    }

    /// Nelder–Mead finds the minimum of Rosenbrock's valley, a curved flat ridge like BG/NBD's.
    @Test func nelderMeadFollowsARidge() throws {
        let result = try NelderMead.minimize(start: [-1.2, 1]) { p in
            100 * pow(p[1] - p[0] * p[0], 2) + pow(1 - p[0], 2)
        } observe: { _, _ in
        }
        #expect(result.converged)
        #expect(abs(result.point[0] - 1) < 1e-3 && abs(result.point[1] - 1) < 1e-3)
    }

    /// A fit ends at a maximum: the likelihood falls when any parameter moves 1 % either way.
    @Test func fitEndsAtAMaximum() throws {
        let inputs = Self.simulated(customers: 600, seed: 42)
        let fitted = try ValueFit.fitBGNBD(inputs)
        let m = fitted.parameters
        #expect(abs(fitted.logLikelihood - ValueFit.bgnbdLogLikelihood(m, inputs)) < 1e-9)
        for axis in 0..<4 {
            for factor in [0.99, 1.01] {
                var p = [m.r, m.alpha, m.a, m.b]
                p[axis] *= factor
                let moved = BGNBDParameters(r: p[0], alpha: p[1], a: p[2], b: p[3])
                #expect(ValueFit.bgnbdLogLikelihood(moved, inputs) < fitted.logLikelihood)
            }
        }
        let spend = try ValueFit.fitGammaGamma(inputs)
        for axis in 0..<3 {
            for factor in [0.99, 1.01] {
                var p = [spend.parameters.p, spend.parameters.q, spend.parameters.gamma]
                p[axis] *= factor
                let moved = GammaGammaParameters(p: p[0], q: p[1], gamma: p[2])
                #expect(ValueFit.gammaGammaLogLikelihood(moved, inputs) < spend.logLikelihood)
            }
        }
    }

    /// Data without an interior maximum (lifetimes' fitter gives up on them too) fail the fit early,
    /// once the likelihood stops improving, rather than after 20,000 iterations.
    @Test func dataWithoutAMaximumFailTheFit() {
        let inputs = (0..<300).map { i -> ModelInputs in
            let T = Double(20 + i % 20)
            switch i % 3 {
            case 0: return ModelInputs(x: 0, tx: 0, T: T, mean: 0)
            case 1: return ModelInputs(x: Double(i % 7 + 1), tx: T - Double(i % 5), T: T, mean: 1)
            default: return ModelInputs(x: Double(i % 4 + 1), tx: T / 5, T: T, mean: 1)
            }
        }
        do {
            _ = try ValueFit.fitBGNBD(inputs)
            Issue.record("the fit converged")
        } catch ValueFit.Failure.noConvergence(let iterations) {
            #expect(iterations < NelderMead.maxIterations)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    /// Customers drawn from BG/NBD with r = 1, α = 2, a = 1, b = 3 over 10–40 weeks, and spend from
    /// Gamma-Gamma with p = 1, q = 3, γ = 20 (shapes of 1 and 3 keep the draws to sums of
    /// exponentials).
    static func simulated(customers: Int, seed: UInt64) -> [ModelInputs] {
        var random = RFMScoreTests.Seeded(state: seed)
        func uniform() -> Double { (Double(random.next(1 << 52)) + 0.5) / Double(1 << 52) }
        func exponential(_ rate: Double) -> Double { -log(uniform()) / rate }
        return (0..<customers).map { _ in
            let rate = exponential(2)
            let dropout = 1 - pow(1 - uniform(), 1.0 / 3)
            let spendRate = exponential(20) + exponential(20) + exponential(20)
            let T = 10 + 30 * uniform()
            var (t, x, last, spent) = (0.0, 0.0, 0.0, 0.0)
            while uniform() >= dropout {
                t += exponential(rate)
                guard t <= T else { break }
                (x, last) = (x + 1, t)
                spent += exponential(spendRate)
            }
            return ModelInputs(x: x, tx: last, T: T, mean: x > 0 ? spent / x : 0)
        }
    }

    /// The optimiser reports its progress and stops when the observer throws.
    @Test func observerCanStopAFit() {
        let inputs = (0..<50).map { ModelInputs(x: Double($0 % 4), tx: Double($0 % 4) * 2, T: 20, mean: 5) }
        var seen = 0
        #expect(throws: CancellationError.self) {
            _ = try ValueFit.fitBGNBD(inputs) { progress in
                seen = progress.iterations
                throw CancellationError()
            }
        }
        #expect(seen == 50)
    }
}
