import ArgumentParser
import CRMJSON

// MARK: - Merge

extension CRMCtl.Customer {
    /// `crmctl customer merge`.
    struct Merge: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge duplicate customers into one (customer.merge).",
            discussion: """
                The primary survives; the secondaries become tombstones that point at it, and their \
                addresses, tags, deals, tickets, activities and timeline move to it. For each field \
                the primary's value wins, else the first secondary's (in the order given) that has \
                one; --resolve picks another customer's value. An opt-out on any address wins, and the \
                stage furthest down the funnel is kept. There is no unmerge.

                Examples:
                  crmctl customer merge c1 c2
                  crmctl customer merge c1 c2 c3 --resolve last_name=c3 \\
                    --resolve custom.plan=c2
                  crmctl customer merge c1 c2 --expect c1=4 --expect c2=2
                """
        )

        @Argument(help: ArgumentHelp("Id of the customer that survives.", valueName: "primary-id"))
        var primaryID: String

        @Argument(
            help: ArgumentHelp(
                "Ids of the customers merged into it, in the order that fills its gaps.", valueName: "secondary-id"
            )
        )
        var secondaryIDs: [String]

        @Option(
            help: ArgumentHelp(
                "Take FIELD from customer ID (first_name, last_name, company_name, job_title, address, owner_id, "
                    + "tier, source, lead_status, custom.<key>). Repeatable.",
                valueName: "field=id"
            )
        )
        var resolve: [String] = []

        @Option(
            help: ArgumentHelp(
                "Refuse the merge unless customer ID's stream is at VERSION (version_conflict). Repeatable.",
                valueName: "id=version"
            )
        )
        var expect: [String] = []

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.merge" }

        func validate() throws {
            guard !self.secondaryIDs.isEmpty else {
                throw ValidationError("Name at least one customer to merge into \(self.primaryID).")
            }
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = [
                "primary_id": .string(self.primaryID), "secondary_ids": .strings(self.secondaryIDs),
            ]
            if !self.resolve.isEmpty {
                var resolve: [String: JSON] = [:]
                for pair in self.resolve {
                    let (field, id) = try Merge.split(pair, option: "--resolve", shape: "FIELD=ID")
                    resolve[field] = .string(id)
                }
                params["resolve"] = .object(resolve)
            }
            if !self.expect.isEmpty {
                var versions: [String: JSON] = [:]
                for pair in self.expect {
                    let (id, text) = try Merge.split(pair, option: "--expect", shape: "ID=VERSION")
                    guard let version = Int64(text), version >= 0 else {
                        throw ValidationError("--expect \(pair): the version must be a whole number ≥ 0.")
                    }
                    versions[id] = .int(version)
                }
                params["expected_versions"] = .object(versions)
            }
            try self.common.apply(to: &params)
            return .object(params)
        }

        /// `text` split at its first `=`, both sides non-empty.
        static func split(_ text: String, option: String, shape: String) throws -> (String, String) {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex,
                text.index(after: equals) != text.endIndex
            else { throw ValidationError("\(option) \(text): expected \(shape).") }
            return (String(text[..<equals]), String(text[text.index(after: equals)...]))
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "customer", verb: "merged", idKey: "customer_id", result: result)
                + "\n\(self.secondaryIDs.joined(separator: ", ")) now point\(self.secondaryIDs.count == 1 ? "s" : "") "
                + "at \(self.primaryID) (customer_merged)"
        }
    }
}
