// Customer lifetime-value models: BG/NBD for the number of future purchases and Gamma-Gamma for their
// value (Fader, Hardie & Lee 2005; Fader & Hardie 2013). Parameters are set or fitted by a command and
// stored in an event, so replay never re-fits.

/// BG/NBD parameters: purchase rates Gamma(r, α), dropout probabilities Beta(a, b).
public struct BGNBDParameters: Sendable, Hashable {
    public var r: Double
    public var alpha: Double
    public var a: Double
    public var b: Double

    public init(r: Double, alpha: Double, a: Double, b: Double) {
        self.r = r
        self.alpha = alpha
        self.a = a
        self.b = b
    }
}

/// Gamma-Gamma parameters of the spend per transaction.
public struct GammaGammaParameters: Sendable, Hashable {
    public var p: Double
    public var q: Double
    public var gamma: Double

    public init(p: Double, q: Double, gamma: Double) {
        self.p = p
        self.q = q
        self.gamma = gamma
    }
}

/// How a model was fitted from the orders (`value.model.fit`): what went in and how the optimiser
/// ended, so an auditor can re-run the fit offline from the log alone.
public struct ModelFit: Sendable, Hashable {
    /// The business date the inputs were taken at (`T` counts the weeks to its end).
    public var asOfDate: String
    /// The log position of the read snapshot the inputs came from.
    public var basedOnSeq: UInt64
    /// The cohort filter on the first order's date, when one was given.
    public var firstOrderFrom: String?
    public var firstOrderTo: String?
    /// The L2 penalty on the parameters (0: plain maximum likelihood).
    public var penalizer: Double
    /// Customers with a counted order in the currency, those with a repeat day, and Σ x.
    public var customers: Int
    public var repeaters: Int
    public var sumX: Int
    /// The log-likelihoods at the fitted parameters, and the customers Gamma-Gamma was fitted on
    /// (repeat customers of positive spend).
    public var bgnbdLogLikelihood: Double
    public var gammaGammaLogLikelihood: Double?
    public var gammaGammaCustomers: Int
    /// The optimiser's iterations for BG/NBD and Gamma-Gamma.
    public var bgnbdIterations: Int
    public var gammaGammaIterations: Int
    /// SHA-256 (hex) of the canonical input table.
    public var inputDigest: String

    public init(
        asOfDate: String,
        basedOnSeq: UInt64,
        firstOrderFrom: String?,
        firstOrderTo: String?,
        penalizer: Double,
        customers: Int,
        repeaters: Int,
        sumX: Int,
        bgnbdLogLikelihood: Double,
        gammaGammaLogLikelihood: Double?,
        gammaGammaCustomers: Int,
        bgnbdIterations: Int,
        gammaGammaIterations: Int,
        inputDigest: String
    ) {
        self.asOfDate = asOfDate
        self.basedOnSeq = basedOnSeq
        self.firstOrderFrom = firstOrderFrom
        self.firstOrderTo = firstOrderTo
        self.penalizer = penalizer
        self.customers = customers
        self.repeaters = repeaters
        self.sumX = sumX
        self.bgnbdLogLikelihood = bgnbdLogLikelihood
        self.gammaGammaLogLikelihood = gammaGammaLogLikelihood
        self.gammaGammaCustomers = gammaGammaCustomers
        self.bgnbdIterations = bgnbdIterations
        self.gammaGammaIterations = gammaGammaIterations
        self.inputDigest = inputDigest
    }

    /// The optimiser's start, on the parameters (BTYD's default for BG/NBD, all ones for
    /// Gamma-Gamma).
    public static let bgnbdStart = BGNBDParameters(r: 1, alpha: 3, a: 1, b: 3)
    public static let gammaGammaStart = GammaGammaParameters(p: 1, q: 1, gamma: 1)
}

/// `ValueModelFitted`: a value model for one currency (stream `model-<model_id>`); `source` is
/// `external` for parameters set by hand (`value.model.set`) and `fitted` for ones fitted from the
/// orders (`value.model.fit`, with `fit`).
public struct ValueModelFitted: Sendable, Hashable {
    public var modelID: String
    public var source: String
    public var currency: String
    public var bgnbd: BGNBDParameters
    public var gammaGamma: GammaGammaParameters?
    public var fit: ModelFit?

    public init(
        modelID: String,
        source: String,
        currency: String,
        bgnbd: BGNBDParameters,
        gammaGamma: GammaGammaParameters?,
        fit: ModelFit? = nil
    ) {
        self.modelID = modelID
        self.source = source
        self.currency = currency
        self.bgnbd = bgnbd
        self.gammaGamma = gammaGamma
        self.fit = fit
    }

    /// Appends the model on `model-<model_id>`; a model id in use is `already_exists`.
    func decision(_ state: any DecisionState) throws -> Decision {
        guard try state.record(.sales, "model:" + self.modelID) == nil else {
            throw Rejection(
                .alreadyExists, field: "model_id", "model \(self.modelID) exists",
                details: ["id": .string(self.modelID)]
            )
        }
        return Decision(
            events: [NewEvent(.sales(.valueModelFitted(self)), stream: "model-\(self.modelID)")],
            result: CommandResult(.model, self.modelID)
        )
    }
}

/// `value.model.set`: a model with known parameters (published ones, or fitted elsewhere).
public struct SetValueModel: DomainCommand {
    /// `value.model.set`.
    public static let method = "value.model.set"

    public let model: ValueModelFitted

    /// The command; the RPC edge checks every parameter (> 0, finite, `a ≠ 1`).
    public init(model: ValueModelFitted) { self.model = model }

    /// `model-<model_id>`.
    public func targetStream(_ context: CommandContext) -> String? { "model-\(self.model.modelID)" }

    /// Rejects a model id in use (`already_exists`).
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        try self.model.decision(state)
    }
}

/// `value.model.fit`, once fitted: the application fits the model off the writer, on a read snapshot of
/// the value read model, and appends the result through this command.
public struct FitValueModel: DomainCommand {
    /// `value.model.fit`.
    public static let method = "value.model.fit"

    public let model: ValueModelFitted

    public init(model: ValueModelFitted) { self.model = model }

    /// `model-<model_id>`.
    public func targetStream(_ context: CommandContext) -> String? { "model-\(self.model.modelID)" }

    /// Rejects a model id in use (`already_exists`), e.g. taken while the fit ran.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        try self.model.decision(state)
    }
}
