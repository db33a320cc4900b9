// Customer lifetime-value models: BG/NBD for the number of future purchases and Gamma-Gamma for their
// value (Fader, Hardie & Lee 2005; Fader & Hardie 2013). Parameters are set (or, later, fitted) by a
// command and stored in an event, so replay never re-fits.

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

/// `ValueModelFitted`: a value model for one currency (stream `model-<model_id>`); `source` is
/// `external` for parameters set by hand (`value.model.set`).
public struct ValueModelFitted: Sendable, Hashable {
    public var modelID: String
    public var source: String
    public var currency: String
    public var bgnbd: BGNBDParameters
    public var gammaGamma: GammaGammaParameters?

    public init(
        modelID: String,
        source: String,
        currency: String,
        bgnbd: BGNBDParameters,
        gammaGamma: GammaGammaParameters?
    ) {
        self.modelID = modelID
        self.source = source
        self.currency = currency
        self.bgnbd = bgnbd
        self.gammaGamma = gammaGamma
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
        guard try state.record(.sales, "model:" + self.model.modelID) == nil else {
            throw Rejection(
                .alreadyExists, field: "model_id", "model \(self.model.modelID) exists",
                details: ["id": .string(self.model.modelID)]
            )
        }
        return Decision(
            events: [NewEvent(.sales(.valueModelFitted(self.model)), stream: "model-\(self.model.modelID)")],
            result: CommandResult(.model, self.model.modelID)
        )
    }
}
