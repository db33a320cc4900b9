import CRMJSON
import CRMTesting
import Foundation
import Testing

/// `value.model.fit` on the CDNOW sample (2,357 customers, 6,919 purchases, as shipped by the Python
/// package lifetimes) fed through the socket as orders: the published BG/NBD and Gamma-Gamma fits
/// (Fader, Hardie & Lee 2005, Table 1; Fader & Hardie 2013) within the acceptance tolerances, and
/// predictions equal to lifetimes' with the fitted parameters. `scripts/test.sh` installs lifetimes
/// into a private virtual environment (`CRMD_LIFETIMES_PYTHON` names its Python); the test is skipped
/// only when it says the package registry could not be reached (`CRMD_LIFETIMES_SKIP`).
@Suite struct CDNOWFitTests {
    /// The Python with lifetimes: `CRMD_LIFETIMES_PYTHON`, else the virtual environment
    /// scripts/test.sh makes in `.build/lifetimes-venv`.
    static let python: String? = {
        let environment = ProcessInfo.processInfo.environment
        if let python = environment["CRMD_LIFETIMES_PYTHON"] { return python }
        let venv = Self.root + "/.build/lifetimes-venv/bin/python"
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }()

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Why the test cannot run here.
    static let skipReason: String? = {
        if let reason = ProcessInfo.processInfo.environment["CRMD_LIFETIMES_SKIP"] { return reason }
        return Self.python == nil && ProcessInfo.processInfo.environment["CI"] != "true"
            ? "lifetimes is not installed: scripts/test.sh installs it into .build/lifetimes-venv" : nil
    }()

    /// Runs scripts/lifetimes-reference.py with `arguments` and returns what it printed.
    static func reference(_ arguments: [String]) throws -> String {
        guard let python = Self.python else {
            Issue.record("lifetimes is not installed (CRMD_LIFETIMES_PYTHON is not set)")
            return ""
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [Self.root + "/scripts/lifetimes-reference.py"] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "lifetimes-reference.py \(arguments.first ?? "") failed")
        return String(decoding: data, as: UTF8.self)
    }

    @Test(.enabled(if: Self.skipReason == nil, Comment(rawValue: Self.skipReason ?? "")))
    func fitReproducesThePublishedTables() async throws {
        let purchases = try Self.reference(["transactions"]).split(whereSeparator: \.isNewline).map {
            $0.split(separator: "\t").map(String.init)
        }
        try #require(purchases.count == 6_919)
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let customers = Set(purchases.map { $0[0] }).sorted { Int($0)! < Int($1)! }
        #expect(customers.count == 2_357)
        func id(_ number: String) -> JSON {
            .string("cdnow-" + String(repeating: "0", count: 4 - number.count) + number)
        }
        _ = try await client.results(
            customers.map { ("customer.create", ["customer_id": id($0), "last_name": "CDNOW"]) })
        _ = try await client.results(
            purchases.enumerated().map { index, purchase in
                (
                    "order.record",
                    [
                        "order_id": .string("p\(index)"), "customer_id": id(purchase[0]),
                        "amount": .string(purchase[2]),
                        "currency": "USD", "ordered_at": .string(purchase[1] + "T00:00:00Z"),
                    ]
                )
            }
        )
        let fitted = try await client.result(
            "value.model.fit", ["model_id": "cdnow", "currency": "USD", "as_of_date": "1997-09-30"])
        #expect(fitted["model_id"] == "cdnow" && fitted["events"]?[0]?["type"] == "ValueModelFitted")
        let model = try await client.result("value.model.get", ["model_id": "cdnow"])
        #expect(model["source"] == "fitted" && model["n_customers"] == 2_357 && model["based_on_seq"] != nil)
        func number(_ value: JSON?) -> Double { value?.doubleValue ?? value?.intValue.map(Double.init) ?? .nan }
        func near(_ value: JSON?, _ published: Double, _ tolerance: Double) -> Bool {
            abs(number(value) - published) <= tolerance
        }
        // The calibration period: Σx = 2,457 over 946 customers with a repeat purchase.
        #expect(model["n_repeaters"] == 946 && model["sum_x"] == 2_457 && model["gamma_gamma"]?["n"] == 946)
        // BG/NBD (FHL 2005 Table 1): LL ≥ −9582.44, each parameter within 0.0015 of the published one.
        let bgnbd = model["bgnbd"] ?? .null
        #expect(number(bgnbd["ll"]) >= -9582.44 && near(bgnbd["ll"], -9582.43, 0.01), "BG/NBD LL \(bgnbd)")
        #expect(near(bgnbd["r"], 0.243, 0.0015) && near(bgnbd["alpha"], 4.414, 0.0015), "\(bgnbd)")
        #expect(near(bgnbd["a"], 0.793, 0.0015) && near(bgnbd["b"], 2.426, 0.0015), "\(bgnbd)")
        // Gamma-Gamma (FH 2013) on exact repeat-day means: LL within 0.001 of −4055.9177, p, q, γ within
        // 0.015 of 6.25, 3.74, 15.44.
        let spend = model["gamma_gamma"] ?? .null
        #expect(near(spend["ll"], -4055.9177, 0.001), "Gamma-Gamma LL \(spend)")
        #expect(near(spend["p"], 6.25, 0.015) && near(spend["q"], 3.74, 0.015), "\(spend)")
        #expect(near(spend["gamma"], 15.44, 0.015), "\(spend)")

        // lifetimes' predictions with the fitted parameters, and its digest of the input table.
        let ids = ["1", "2", "3", "18", "1516"]
        let parameters = [bgnbd["r"], bgnbd["alpha"], bgnbd["a"], bgnbd["b"], spend["p"], spend["q"], spend["gamma"]]
        let expected = try JSON.parse(
            try Self.reference(["predict", "1997-09-30"] + parameters.map { String(number($0)) } + ids))
        #expect(model["input_digest"] == expected["input_digest"], "the canonical input table differs")
        for customer in ids {
            let predicted = try await client.result(
                "value.predict", ["customer_id": id(customer), "model_id": "cdnow", "as_of_date": "1997-09-30"])
            let reference = expected["customers"]?[customer] ?? .null
            func same(_ value: JSON?, _ key: String) -> Bool {
                abs((value?.stringValue.flatMap(Double.init) ?? .nan) - number(reference[key])) <= 5e-5
            }
            #expect(same(predicted["p_alive"], "p_alive"), "\(customer): \(predicted) vs \(reference)")
            #expect(same(predicted["expected_purchases"], "expected_purchases"), "\(customer): \(predicted)")
            #expect(same(predicted["expected_order_value"], "expected_order_value"), "\(customer): \(predicted)")
            #expect(same(predicted["clv"]?["value"], "clv"), "\(customer): \(predicted) vs \(reference)")
        }
        try await daemon.stop()
    }
}
