import ArgumentParser
import CRMJSON
import Foundation

// MARK: - Erasure and legal hold

extension CRMCtl.Customer {
    /// `crmctl customer erase`.
    struct Erase: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase a customer's personal data (customer.erase, admin role).",
            discussion: """
                Destroys the keys that seal the customer's personal data (crypto-shredding): the \
                profile keeps its id, stage, tags and counts; names, contact data, texts and the \
                personal data of every event about the person become unreadable everywhere, backups \
                included. The log's hashes do not change. Refused under a legal hold. It cannot be \
                undone.

                Example:
                  crmctl customer erase c7 --reason art17_1a --request-ref DSR-42
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @Option(help: ArgumentHelp("The ground: art17_1a … art17_1f, or a code of your own.", valueName: "code"))
        var reason: String?

        @Option(help: ArgumentHelp("Your reference of the request.", valueName: "ref"))
        var requestRef: String?

        @Option(help: ArgumentHelp("When the person asked (RFC 3339).", valueName: "time"))
        var requestedAt: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.erase" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["customer_id": .string(self.customerID)]
            if let reason = self.reason { params["reason"] = .string(reason) }
            if let ref = self.requestRef { params["request_ref"] = .string(ref) }
            if let time = self.requestedAt { params["requested_at"] = .string(time) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "customer", verb: "erased", idKey: "customer_id", result: result)
                + "\n(crmctl customer erasure-status \(self.customerID) says when it is complete)"
        }
    }

    /// `crmctl customer legal-hold`.
    struct LegalHold: RPCCommand {
        static let configuration = CommandConfiguration(
            commandName: "legal-hold",
            abstract: "Set or lift the legal hold that refuses erasure (customer.set_legal_hold, admin role).",
            discussion: """
                Example:
                  crmctl customer legal-hold c7 --on --reason "case 2026-12"
                  crmctl customer legal-hold c7 --off
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @Flag(help: "Set the hold.")
        var on = false

        @Flag(help: "Lift the hold.")
        var off = false

        @Option(help: ArgumentHelp("Why: a case number or the obligation (not personal data).", valueName: "text"))
        var reason: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.set_legal_hold" }

        func validate() throws {
            guard self.on != self.off else { throw ValidationError("give either --on or --off") }
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["customer_id": .string(self.customerID), "on": .bool(self.on)]
            if let reason = self.reason { params["reason"] = .string(reason) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(
                noun: "customer", verb: self.on ? "put on legal hold" : "released from legal hold",
                idKey: "customer_id", result: result
            )
        }
    }

    /// `crmctl customer erasure-status`.
    struct ErasureStatus: RPCCommand {
        static let configuration = CommandConfiguration(
            commandName: "erasure-status",
            abstract: "Show where a customer's erasure stands (customer.erasure_status, admin role).",
            discussion: """
                Example:
                  crmctl customer erasure-status c7
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.erasure_status" }

        func params() throws -> JSON? { ["customer_id": .string(self.customerID)] }

        func render(_ result: JSON) -> String { Output.erasureStatus(result) }
    }
}

extension Output {
    /// `customer.erasure_status` for people: the steps with their times, then each key.
    static func erasureStatus(_ result: JSON) -> String {
        func time(_ key: String) -> String { Output.text(result[key]) ?? "-" }
        guard result["erased_seq"]?.intValue != nil else {
            let hold = result["legal_hold"] == true ? " (under legal hold)" : ""
            return "customer \(Output.text(result["customer_id"]) ?? "?") is not erased\(hold)"
        }
        var lines = Output.labelled([
            ("customer", [Output.text(result["customer_id"]) ?? "?"]),
            ("erased", ["position \(Output.text(result["erased_seq"]) ?? "?") at \(time("erased_at"))"]),
            ("keys deleted", [time("keys_deleted_at")]),
            ("kek replaced", [time("kek_rotated_at")]),
            ("complete", [result["complete"] == true ? "yes" : "not yet"]),
        ])
        let keys = (result["keys"]?.arrayValue ?? []).map { key in
            [Output.text(key["kid"]) ?? "?", Output.text(key["deleted_at"]) ?? "still held"]
        }
        lines.append("")
        lines += Output.table(["KEY", "DELETED"], keys)
        return lines.joined(separator: "\n")
    }
}
