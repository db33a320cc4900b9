import CRMDomain
import CRMJSON

/// Order events ⇄ their `data` payloads (they have no personal data). Amounts are canonical decimal
/// strings, times RFC 3339; a margin may be negative.
enum OrderEventCodec {
    static func data(_ order: OrderRecorded) -> JSON {
        [
            "order_id": .string(order.orderID), "customer_id": .string(order.customerID),
            "amount": .string(order.amount.description), "currency": .string(order.currency),
            "margin": .string(order.margin.map { MoneyAmount.format($0, scale: MoneyAmount.scale) }),
            "ordered_at": .string(Timestamp.format(order.orderedAt)), "channel": .string(order.channel),
            "campaign_id": .string(order.campaignID), "external_ref": .string(order.externalRef),
            "lines_count": order.linesCount.map { .int($0) } ?? .null,
        ]
    }

    static func data(_ refund: OrderRefunded) -> JSON {
        [
            "refund_id": .string(refund.refundID), "order_id": .string(refund.orderID),
            "customer_id": .string(refund.customerID), "amount": .string(refund.amount.description),
            "currency": .string(refund.currency), "refunded_total": .string(refund.refundedTotal.description),
        ]
    }

    static func data(_ cancel: OrderCancelled) -> JSON {
        [
            "order_id": .string(cancel.orderID), "customer_id": .string(cancel.customerID),
            "reason": .string(cancel.reason),
        ]
    }

    static func data(_ model: ValueModelFitted) -> JSON {
        let bgnbd = model.bgnbd
        var data: JSON = [
            "model_id": .string(model.modelID), "source": .string(model.source), "currency": .string(model.currency),
            "bgnbd": [
                "r": .double(bgnbd.r), "alpha": .double(bgnbd.alpha), "a": .double(bgnbd.a), "b": .double(bgnbd.b),
            ],
            "gamma_gamma": model.gammaGamma.map {
                ["p": .double($0.p), "q": .double($0.q), "gamma": .double($0.gamma)]
            }
                ?? .null,
        ]
        guard let fit = model.fit else { return data }
        data["bgnbd"]?["ll"] = .double(fit.bgnbdLogLikelihood)
        if let ll = fit.gammaGammaLogLikelihood {
            data["gamma_gamma"]?["ll"] = .double(ll)
            data["gamma_gamma"]?["n"] = .int(Int64(fit.gammaGammaCustomers))
        }
        let bgnbdStart = ModelFit.bgnbdStart
        let spendStart = ModelFit.gammaGammaStart
        data["as_of_date"] = .string(fit.asOfDate)
        data["time_unit"] = "week"
        data["based_on_seq"] = .int(Int64(fit.basedOnSeq))
        data["first_order_from"] = fit.firstOrderFrom.map(JSON.string) ?? .null
        data["first_order_to"] = fit.firstOrderTo.map(JSON.string) ?? .null
        data["penalizer"] = .double(fit.penalizer)
        data["n_customers"] = .int(Int64(fit.customers))
        data["n_repeaters"] = .int(Int64(fit.repeaters))
        data["sum_x"] = .int(Int64(fit.sumX))
        data["optimizer"] = [
            "method": "nelder-mead-log",
            "start": [
                "bgnbd": [
                    "r": .double(bgnbdStart.r), "alpha": .double(bgnbdStart.alpha), "a": .double(bgnbdStart.a),
                    "b": .double(bgnbdStart.b),
                ],
                "gamma_gamma": [
                    "p": .double(spendStart.p), "q": .double(spendStart.q), "gamma": .double(spendStart.gamma),
                ],
            ],
            "iterations": [
                "bgnbd": .int(Int64(fit.bgnbdIterations)), "gamma_gamma": .int(Int64(fit.gammaGammaIterations)),
            ],
        ]
        data["input_digest"] = .string(fit.inputDigest)
        return data
    }

    static func model(_ data: JSON) -> ValueModelFitted? {
        func number(_ value: JSON?) -> Double? { value?.doubleValue ?? value?.intValue.map(Double.init) }
        let fit = data["bgnbd"] ?? .null
        guard let id = data["model_id"]?.stringValue, let currency = data["currency"]?.stringValue,
            let r = number(fit["r"]), let alpha = number(fit["alpha"]), let a = number(fit["a"]),
            let b = number(fit["b"])
        else { return nil }
        let spend = data["gamma_gamma"] ?? .null
        var gammaGamma: GammaGammaParameters?
        if let p = number(spend["p"]), let q = number(spend["q"]), let gamma = number(spend["gamma"]) {
            gammaGamma = GammaGammaParameters(p: p, q: q, gamma: gamma)
        }
        var details: ModelFit?
        if let asOf = data["as_of_date"]?.stringValue, let ll = number(fit["ll"]) {
            let iterations = data["optimizer"]?["iterations"] ?? .null
            details = ModelFit(
                asOfDate: asOf, basedOnSeq: UInt64(max(0, data["based_on_seq"]?.intValue ?? 0)),
                firstOrderFrom: data["first_order_from"]?.stringValue,
                firstOrderTo: data["first_order_to"]?.stringValue,
                penalizer: number(data["penalizer"]) ?? 0, customers: Int(data["n_customers"]?.intValue ?? 0),
                repeaters: Int(data["n_repeaters"]?.intValue ?? 0), sumX: Int(data["sum_x"]?.intValue ?? 0),
                bgnbdLogLikelihood: ll, gammaGammaLogLikelihood: number(spend["ll"]),
                gammaGammaCustomers: Int(spend["n"]?.intValue ?? 0),
                bgnbdIterations: Int(iterations["bgnbd"]?.intValue ?? 0),
                gammaGammaIterations: Int(iterations["gamma_gamma"]?.intValue ?? 0),
                inputDigest: data["input_digest"]?.stringValue ?? ""
            )
        }
        return ValueModelFitted(
            modelID: id, source: data["source"]?.stringValue ?? "external", currency: currency,
            bgnbd: BGNBDParameters(r: r, alpha: alpha, a: a, b: b), gammaGamma: gammaGamma, fit: details
        )
    }

    static func recorded(_ data: JSON) -> OrderRecorded? {
        guard let id = data["order_id"]?.stringValue, let customer = data["customer_id"]?.stringValue,
            let amount = data["amount"].flatMap(MoneyAmount.init(json:)), let currency = data["currency"]?.stringValue,
            let orderedAt = data["ordered_at"]?.stringValue.flatMap(Timestamp.parse)
        else { return nil }
        return OrderRecorded(
            orderID: id, customerID: customer, amount: amount, currency: currency,
            margin: data["margin"]?.stringValue.flatMap(MoneyAmount.signedUnits), orderedAt: orderedAt,
            channel: data["channel"]?.stringValue, campaignID: data["campaign_id"]?.stringValue,
            externalRef: data["external_ref"]?.stringValue, linesCount: data["lines_count"]?.intValue
        )
    }

    static func refunded(_ data: JSON) -> OrderRefunded? {
        guard let id = data["order_id"]?.stringValue, let customer = data["customer_id"]?.stringValue,
            let amount = data["amount"].flatMap(MoneyAmount.init(json:))
        else { return nil }
        return OrderRefunded(
            refundID: data["refund_id"]?.stringValue ?? "", orderID: id, customerID: customer, amount: amount,
            currency: data["currency"]?.stringValue ?? "",
            refundedTotal: data["refunded_total"].flatMap(MoneyAmount.init(json:)) ?? amount
        )
    }

    static func cancelled(_ data: JSON) -> OrderCancelled? {
        guard let id = data["order_id"]?.stringValue, let customer = data["customer_id"]?.stringValue else {
            return nil
        }
        return OrderCancelled(orderID: id, customerID: customer, reason: data["reason"]?.stringValue)
    }
}
