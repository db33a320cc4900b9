import ArgumentParser
import CRMJSON
import CRMProtocol
import Foundation

// MARK: - Shared customer fields

/// The contact and classification fields that `customer create` and `customer update` share. On
/// create they are top-level params; on update they go into `set`.
struct ContactFields: ParsableArguments {
    @Option(help: ArgumentHelp("First name (at most 100 characters).", valueName: "name"))
    var firstName: String?

    @Option(help: ArgumentHelp("Last name (at most 100 characters).", valueName: "name"))
    var lastName: String?

    @Option(
        name: .customLong("email"),
        help: ArgumentHelp(
            "Email address; repeat for several, the first is primary. On update the list replaces the stored one.",
            valueName: "address"
        )
    )
    var emails: [String] = []

    @Option(
        name: .customLong("phone"),
        help: ArgumentHelp(
            "Phone number, optionally as type=number (type: mobile, office, home, fax, other); repeat for "
                + "several, the first is primary. On update the list replaces the stored one.",
            valueName: "number"
        )
    )
    var phones: [String] = []

    @Option(help: ArgumentHelp("Company name.", valueName: "name"))
    var companyName: String?

    @Option(help: ArgumentHelp("Job title.", valueName: "title"))
    var jobTitle: String?

    @Option(
        help: ArgumentHelp("Street of the postal address (on update the address is replaced whole).", valueName: "text")
    )
    var street: String?

    @Option(help: ArgumentHelp("City of the postal address.", valueName: "text"))
    var city: String?

    @Option(help: ArgumentHelp("State or region of the postal address.", valueName: "text"))
    var state: String?

    @Option(help: ArgumentHelp("Postal code of the postal address.", valueName: "text"))
    var postalCode: String?

    @Option(help: ArgumentHelp("Country of the postal address.", valueName: "text"))
    var country: String?

    @Option(help: ArgumentHelp("Customer tier, e.g. gold (used by SLA policies).", valueName: "tier"))
    var tier: String?

    @Option(help: ArgumentHelp("Where the customer came from, e.g. web.", valueName: "source"))
    var source: String?

    @Option(
        name: .customLong("custom"),
        help: ArgumentHelp(
            "Custom field as key=value; numbers, true, false and null are JSON, anything else a string "
                + "(quote it as JSON, key='\"007\"', to force a string). Repeatable; on update merged per key.",
            valueName: "key=value"
        )
    )
    var custom: [String] = []

    /// The fields given on the command line, as param members.
    func members() throws -> [String: JSON] {
        var members: [String: JSON] = [:]
        if let value = self.firstName { members["first_name"] = .string(value) }
        if let value = self.lastName { members["last_name"] = .string(value) }
        if !self.emails.isEmpty { members["emails"] = ParamParsing.emails(self.emails) }
        if !self.phones.isEmpty { members["phones"] = ParamParsing.phones(self.phones) }
        if let value = self.companyName { members["company_name"] = .string(value) }
        if let value = self.jobTitle { members["job_title"] = .string(value) }
        var address: [String: JSON] = [:]
        if let value = self.street { address["street"] = .string(value) }
        if let value = self.city { address["city"] = .string(value) }
        if let value = self.state { address["state"] = .string(value) }
        if let value = self.postalCode { address["postal_code"] = .string(value) }
        if let value = self.country { address["country"] = .string(value) }
        if !address.isEmpty { members["address"] = .object(address) }
        if let value = self.tier { members["tier"] = .string(value) }
        if let value = self.source { members["source"] = .string(value) }
        if !self.custom.isEmpty { members["custom"] = .object(try ParamParsing.custom(self.custom)) }
        return members
    }
}

/// The readable output of every customer command.
private func customerSummary(_ verb: String, _ result: JSON) -> String {
    Output.commandSummary(noun: "customer", verb: verb, idKey: "customer_id", result: result)
}

// MARK: - Commands

extension CRMCtl.Customer {
    /// `crmctl customer create`.
    struct Create: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a customer (customer.create).",
            discussion: """
                A customer needs at least a first name, last name, email or phone. crmd generates a \
                time-ordered id unless --customer-id is given.

                Example:
                  crmctl customer create --first-name Ada --last-name Lovelace \\
                    --email ada@example.com --phone "+44 20 7946 0000" \\
                    --tag vip --tier gold --owner u42
                """
        )

        @Option(
            help: ArgumentHelp("Id of the new customer, ^[A-Za-z0-9_-]{1,64}$ (default: generated).", valueName: "id")
        )
        var customerID: String?

        @OptionGroup(title: "Contact fields")
        var fields: ContactFields

        @Option(
            name: [.customLong("owner-id"), .customLong("owner")],
            help: ArgumentHelp("Owner (user) id.", valueName: "id")
        )
        var ownerID: String?

        @Option(name: .customLong("tag"), help: ArgumentHelp("Tag; repeatable.", valueName: "tag"))
        var tags: [String] = []

        @Option(
            help: ArgumentHelp(
                "subscriber, lead (default), marketingqualifiedlead, salesqualifiedlead, opportunity, customer, "
                    + "evangelist or other.",
                valueName: "stage"
            )
        )
        var lifecycleStage: String?

        @Option(
            help: ArgumentHelp(
                "NEW, OPEN, IN_PROGRESS, OPEN_DEAL, UNQUALIFIED, ATTEMPTED_TO_CONTACT, CONNECTED or BAD_TIMING.",
                valueName: "status"
            )
        )
        var leadStatus: String?

        @Option(
            name: .customLong("consent"),
            help: ArgumentHelp(
                "Consent as channel:status[:address] (channel email, phone or sms; status not_set, opted_in, "
                    + "confirmed_opt_in or opted_out); repeatable.",
                valueName: "consent"
            )
        )
        var consent: [String] = []

        @Flag(help: "Allow an email address of an erased customer.")
        var allowPreviouslyErased = false

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.create" }

        func params() throws -> JSON? {
            var params = try self.fields.members()
            if let id = self.customerID { params["customer_id"] = .string(id) }
            if let id = self.ownerID { params["owner_id"] = .string(id) }
            if !self.tags.isEmpty { params["tags"] = .strings(self.tags) }
            if let stage = self.lifecycleStage { params["lifecycle_stage"] = .string(stage) }
            if let status = self.leadStatus { params["lead_status"] = .string(status) }
            if !self.consent.isEmpty { params["consent"] = try ParamParsing.consent(self.consent) }
            if self.allowPreviouslyErased { params["allow_previously_erased"] = true }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String { customerSummary("created", result) }
    }

    /// `crmctl customer update`.
    struct Update: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change or clear profile fields (customer.update).",
            discussion: """
                Fields given with the contact flags or --set are set; fields named with --unset are \
                cleared. --email and --phone replace the whole list (opt-outs of addresses that stay are \
                kept); --custom and --set custom.KEY=VALUE change single custom keys; the address is \
                replaced whole. Owner, tags, lifecycle stage and lead status have their own commands.

                --set takes field=value: first_name, last_name, company_name, job_title, tier and source \
                take the text as is; emails, phones, address and custom take JSON; custom.KEY takes a \
                custom value like --custom.

                Example:
                  crmctl customer update ID --set first_name=Augusta --unset job_title \\
                    --expected-version 1
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @OptionGroup(title: "Contact fields")
        var fields: ContactFields

        @Option(
            name: .customLong("set"),
            help: ArgumentHelp("Set a field: field=value; repeatable.", valueName: "field=value")
        )
        var assignments: [String] = []

        @Option(
            name: .customLong("unset"),
            help: ArgumentHelp(
                "Clear a field (first_name, last_name, company_name, job_title, emails, phones, address, custom, "
                    + "custom.KEY, tier, source); repeatable.",
                valueName: "field"
            )
        )
        var unset: [String] = []

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.update" }

        /// Fields whose `--set` value is JSON rather than plain text.
        static let jsonFields: Set<String> = ["emails", "phones", "address", "custom"]

        func validate() throws {
            if try self.fields.members().isEmpty, self.assignments.isEmpty, self.unset.isEmpty {
                throw ValidationError("nothing to change: give a field flag, --set or --unset")
            }
        }

        func params() throws -> JSON? {
            var set = try self.fields.members()
            for assignment in self.assignments {
                let (field, value) = try ParamParsing.keyValue(assignment, option: "--set")
                if field.hasPrefix("custom.") {
                    let key = String(field.dropFirst("custom.".count))
                    var custom = set["custom"]?.objectValue ?? [:]
                    guard custom[key] == nil else { throw ValidationError("custom.\(key) is given twice") }
                    custom[key] = ParamParsing.scalar(value)
                    set["custom"] = .object(custom)
                    continue
                }
                guard set[field] == nil else { throw ValidationError("\(field) is given twice") }
                if Update.jsonFields.contains(field) {
                    do {
                        set[field] = try JSON.parse(value)
                    } catch {
                        throw ValidationError("--set \(field)= expects JSON: \(error)")
                    }
                } else {
                    set[field] = .string(value)
                }
            }
            var params: [String: JSON] = ["customer_id": .string(self.customerID)]
            if !set.isEmpty { params["set"] = .object(set) }
            if !self.unset.isEmpty { params["unset"] = .strings(self.unset) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String { customerSummary("updated", result) }
    }

    /// `crmctl customer tag`.
    struct Tag: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add and remove tags (customer.tag).",
            discussion: """
                Tags are 1 to 64 letters, digits, spaces or _ . : -. Only real changes are recorded.

                Example:
                  crmctl customer tag ID --add vip --add beta --remove trial
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @OptionGroup(title: "Tags")
        var tags: TagChangeOptions

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.tag" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["customer_id": .string(self.customerID)]
            self.tags.apply(to: &params)
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String { customerSummary("tagged", result) }
    }

    /// `crmctl customer assign-owner`.
    struct AssignOwner: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set or clear the owner (customer.assign_owner).",
            discussion: """
                Example:
                  crmctl customer assign-owner ID --owner u42
                  crmctl customer assign-owner ID --unassign
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @Option(
            name: [.customLong("owner-id"), .customLong("owner")],
            help: ArgumentHelp("The new owner (user) id.", valueName: "id")
        )
        var ownerID: String?

        @Flag(help: "Remove the owner (owner_id null).")
        var unassign = false

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.assign_owner" }

        func validate() throws {
            guard (self.ownerID != nil) != self.unassign else {
                throw ValidationError("give either --owner-id or --unassign")
            }
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["customer_id": .string(self.customerID), "owner_id": .string(self.ownerID)]
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String { customerSummary("owner changed", result) }
    }

    /// `crmctl customer set-lifecycle-stage`.
    struct SetLifecycleStage: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move the lifecycle stage (customer.set_lifecycle_stage).",
            discussion: """
                Stages in funnel order: subscriber, lead, marketingqualifiedlead, salesqualifiedlead, \
                opportunity, customer, evangelist, other. Moving to an earlier stage fails with \
                lifecycle_backward unless --allow-backward is given.

                Example:
                  crmctl customer set-lifecycle-stage ID --stage opportunity
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @Option(help: ArgumentHelp("The target stage.", valueName: "stage"))
        var stage: String

        @Flag(help: "Allow a move to an earlier stage.")
        var allowBackward = false

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.set_lifecycle_stage" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["customer_id": .string(self.customerID), "stage": .string(self.stage)]
            if self.allowBackward { params["allow_backward"] = true }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String { customerSummary("lifecycle stage changed", result) }

        /// crmd's `lifecycle_backward` message names the protocol param; here it is a flag.
        func errorLines(_ error: RPCError) -> [String] {
            var error = error
            if error.reason == "lifecycle_backward" {
                error.message = error.message.replacing("allow_backward:true", with: "--allow-backward")
            }
            return Output.errorLines(error)
        }
    }

    /// `crmctl customer set-lead-status`.
    struct SetLeadStatus: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the lead status (customer.set_lead_status).",
            discussion: """
                Statuses: NEW, OPEN, IN_PROGRESS, OPEN_DEAL, UNQUALIFIED, ATTEMPTED_TO_CONTACT, CONNECTED, \
                BAD_TIMING.

                Example:
                  crmctl customer set-lead-status ID --status CONNECTED
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @Option(help: ArgumentHelp("The new lead status.", valueName: "status"))
        var status: String

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.set_lead_status" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["customer_id": .string(self.customerID), "status": .string(self.status)]
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String { customerSummary("lead status set", result) }
    }

    /// `crmctl customer set-consent`.
    struct SetConsent: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record marketing consent for an email or phone (customer.set_consent).",
            discussion: """
                --address names the email or phone the consent is about; it may be left out when the \
                customer has only one of that kind.

                Example:
                  crmctl customer set-consent ID --channel email \\
                    --status confirmed_opt_in --address ada@example.com \\
                    --legal-basis consent --source web-form
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @Option(help: ArgumentHelp("email, phone or sms.", valueName: "channel"))
        var channel: String

        @Option(help: ArgumentHelp("not_set, opted_in, confirmed_opt_in or opted_out.", valueName: "status"))
        var status: String

        @Option(help: ArgumentHelp("The email address or phone number (one of the customer's).", valueName: "address"))
        var address: String?

        @Option(help: ArgumentHelp("Legal basis, e.g. consent or legitimate_interest.", valueName: "text"))
        var legalBasis: String?

        @Option(help: ArgumentHelp("Where the consent was given, e.g. web-form.", valueName: "text"))
        var source: String?

        @Option(help: ArgumentHelp("Evidence of the consent, e.g. a form submission id.", valueName: "text"))
        var evidence: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.set_consent" }

        func params() throws -> JSON? {
            var params: [String: JSON] = [
                "customer_id": .string(self.customerID), "channel": .string(self.channel),
                "status": .string(self.status),
            ]
            if let value = self.address { params["address"] = .string(value) }
            if let value = self.legalBasis { params["legal_basis"] = .string(value) }
            if let value = self.source { params["source"] = .string(value) }
            if let value = self.evidence { params["evidence"] = .string(value) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String { customerSummary("consent recorded", result) }
    }

    // MARK: - Queries

    /// `crmctl customer get`.
    struct Get: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a customer profile (customer.get).",
            discussion: """
                Prints name, emails (primary, recorded consent, opt-out), phones, company and title, \
                owner, tags, tier, lifecycle stage and since when, lead status and stats; --json prints \
                the whole profile.

                --as-of shows the profile as it was at an earlier point of the log, folded afresh from \
                the events up to it that touch the customer: a position (all digits, capped at the head) \
                or an RFC 3339 time (the last event recorded at or before it: the daemon's recorded_at, \
                not the business time at). A customer that did not exist yet is not found.

                Examples:
                  crmctl customer get ID
                  crmctl customer get ID --as-of 2025-03-07T16:00:00Z
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @Option(
            help: ArgumentHelp(
                "Profile as of this log position or recorded RFC 3339 time (see below).",
                valueName: "position|time"
            ),
            transform: ParamParsing.asOf
        )
        var asOf: JSON?

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.get" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["customer_id": .string(self.customerID)]
            if let asOf = self.asOf { params["as_of"] = asOf }
            return .object(params)
        }

        func render(_ result: JSON) -> String { Output.profile(result) }
    }

    /// `crmctl customer find`.
    struct Find: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find customers by email, phone or tag (customer.find).",
            discussion: """
                Give exactly one of --email, --phone, --tag. Prints each matching profile; when there \
                are more, the last line gives the --after value of the next page.

                Example:
                  crmctl customer find --email ada@example.com
                  crmctl customer find --tag vip --limit 20
                """
        )

        @Option(help: ArgumentHelp("Email address (compared lower-cased).", valueName: "address"))
        var email: String?

        @Option(help: ArgumentHelp("Phone number (compared by its digits).", valueName: "number"))
        var phone: String?

        @Option(help: ArgumentHelp("Tag.", valueName: "tag"))
        var tag: String?

        @Option(
            help: ArgumentHelp("Most customers to return, 1 to 200 (default 50).", valueName: "n"),
            transform: ParamParsing.limit(200)
        )
        var limit: Int?

        @Option(
            help: ArgumentHelp(
                "Customer id from the previous page's next_after (phone and tag searches).",
                valueName: "cursor"
            )
        )
        var after: String?

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.find" }

        func validate() throws {
            let given = [self.email, self.phone, self.tag].compactMap { $0 }.count
            guard given == 1 else { throw ValidationError("give exactly one of --email, --phone, --tag") }
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = [:]
            if let value = self.email { params["email"] = .string(value) }
            if let value = self.phone { params["phone"] = .string(value) }
            if let value = self.tag { params["tag"] = .string(value) }
            if let value = self.limit { params["limit"] = .int(value) }
            if let value = self.after { params["after"] = .string(value) }
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            let customers = result["customers"]?.arrayValue ?? []
            var blocks = customers.map(Output.profile)
            if blocks.isEmpty { blocks.append("no customer found") }
            if let next = result["next_after"], !next.isNull {
                blocks.append("more: --after \(Output.cursorArgument(next))")
            }
            return blocks.joined(separator: "\n\n")
        }
    }

    /// `crmctl customer timeline`.
    struct Timeline: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a customer's timeline, newest first (customer.timeline).",
            discussion: """
                Example:
                  crmctl customer timeline ID --limit 20
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @Option(help: ArgumentHelp("Cursor from the previous page (its next_before).", valueName: "cursor"))
        var before: String?

        @Option(
            help: ArgumentHelp("Most entries to return, 1 to 200 (default 50).", valueName: "n"),
            transform: ParamParsing.limit(200)
        )
        var limit: Int?

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.timeline" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["customer_id": .string(self.customerID)]
            if let value = self.before { params["before"] = .string(value) }
            if let value = self.limit { params["limit"] = .int(value) }
            return .object(params)
        }

        func render(_ result: JSON) -> String { Output.timeline(result) }
    }

    /// `crmctl customer duplicates`.
    struct Duplicates: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "List customers that may be the same person (customer.find_duplicates).",
            discussion: """
                Candidates share a phone number with the customer, or its full name at the same company \
                (case and spacing ignored). Nothing is merged.

                Example:
                  crmctl customer duplicates ID
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @Option(help: "Most candidates to list (1–200, default 50).")
        var limit: Int64?

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.find_duplicates" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["customer_id": .string(self.customerID)]
            if let limit = self.limit { params["limit"] = .int(limit) }
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            let candidates = result["candidates"]?.arrayValue ?? []
            guard !candidates.isEmpty else { return "no duplicate candidates for \(self.customerID)" }
            let rows = candidates.map { candidate -> [String] in
                let reasons = candidate["reasons"]?.arrayValue?.compactMap(\.stringValue) ?? []
                let phones = candidate["phones"]?.arrayValue?.compactMap(\.stringValue) ?? []
                return [
                    candidate["customer_id"]?.stringValue ?? "?",
                    reasons.map { $0 == "name_company" ? "same name and company" : "same phone" }
                        .joined(separator: ", "),
                    phones.joined(separator: " "),
                ]
            }
            var lines = Output.table(["CUSTOMER", "WHY", "SHARED PHONES"], rows)
            if result["truncated"] == true { lines.append("(more candidates: raise --limit)") }
            return lines.joined(separator: "\n")
        }
    }

    /// `crmctl customer history`.
    struct History: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every change to a customer with its actor and time (customer.history).",
            discussion: """
                Example:
                  crmctl customer history ID
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.history" }

        func params() throws -> JSON? { ["customer_id": .string(self.customerID)] }

        func render(_ result: JSON) -> String { Output.history(result) }
    }

    /// `crmctl customer export`.
    struct Export: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export everything crmd holds about one person (customer.export, admin role).",
            discussion: """
                For a subject access or data portability request: the profile, every timeline entry, the \
                person's deals and tickets, their consent history and every event that concerns them, as \
                one JSON document read at one moment (its `head`). The document holds the person's \
                personal data: with --output it is written to a file readable by its owner only (0600) \
                and a summary is printed; without it the document goes to stdout.

                Example:
                  crmctl customer export ID --output ID.json
                """
        )

        @Argument(help: "Id of the customer.")
        var customerID: String

        @Option(name: .shortAndLong, help: ArgumentHelp("Write the document to this file.", valueName: "file"))
        var output: String?

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.export" }

        func params() throws -> JSON? { ["customer_id": .string(self.customerID)] }

        func render(_ result: JSON) -> String { result.serializedString() }

        mutating func run() throws {
            let result = try self.callOrExit(self.method, try self.params())
            guard let output = self.output else {
                print(result.serializedString())
                return
            }
            let file = try PrivateOutput.create(output)
            try file.write(contentsOf: result.serialized() + [0x0A])
            try file.close()
            if self.global.json {
                print(JSON.object(["customer_id": .string(self.customerID), "path": .string(output)]).serializedString())
            } else {
                print(Output.subjectExport(result, path: output))
            }
        }
    }
}
