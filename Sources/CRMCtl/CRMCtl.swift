import ArgumentParser
import CRMDomain
import CRMProtocol

/// `crmctl`: the command-line client of crmd.
///
/// Every subcommand opens one connection to crmd's Unix socket, sends one JSON-RPC 2.0 request and
/// prints the reply: readable text by default, or the raw `result` as one line of JSON with `--json`.
/// The command tree follows the method names of the protocol (`customer.set_lead_status` is
/// `crmctl customer set-lead-status`); `crmctl call` sends any method with raw JSON params.
///
/// Global options (`--socket`, `--json`, `--timeout`) may be given before or after the subcommand.
///
/// Exit status: 0 on success, 1 when crmd answers with an error, 2 when crmd cannot be reached or
/// its reply cannot be read, 3 when `audit verify` finds a broken chain, 64 for a usage error.
@main
struct CRMCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crmctl",
        abstract: "Command-line client of crmd, the event-sourced CRM daemon.",
        discussion: """
            Talks JSON-RPC 2.0 to crmd over its Unix socket (see docs/PROTOCOL.md). Output is readable \
            text by default; --json prints the raw result as one line of JSON for scripts.

            Exit status: 0 success, 1 crmd answered with an error, 2 crmd could not be reached or \
            answered something unreadable, 3 audit verify found a broken hash chain, 64 usage error.
            """,
        version: CRMVersion.current,
        subcommands: [Customer.self, Activity.self] + SalesSubcommands.groups + ServiceSubcommands.groups
            + ValueSubcommands.groups + FeedbackSubcommands.groups + SegmentSubcommands.groups
            + CampaignSubcommands.groups + [
                Events.self, Audit.self, Export.self, Migrate.self, Projection.self, System.self, Call.self,
                Methods.self,
            ]
    )

    /// Accepted before the subcommand too (`crmctl --json customer get ID`); ArgumentParser hands
    /// the values to the subcommand's own ``GlobalOptions``.
    @OptionGroup(title: "Global options")
    var global: GlobalOptions
}

// MARK: - Command groups

extension CRMCtl {
    /// `crmctl customer …`: commands and queries on customers.
    struct Customer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create, change and look up customers.",
            subcommands: [
                Create.self, Update.self, Tag.self, AssignOwner.self, SetLifecycleStage.self, SetLeadStatus.self,
                SetConsent.self, MarkChurned.self, UnmarkChurned.self, Merge.self, Get.self, Find.self, Timeline.self,
                Duplicates.self, History.self,
                Export.self, LegalHold.self, Erase.self, ErasureStatus.self,
            ]
        )
    }

    /// `crmctl activity …`: activities on customer timelines.
    struct Activity: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record calls, emails, meetings, notes and tasks.",
            subcommands: [Log.self]
        )
    }

    /// `crmctl events …`: the event log.
    struct Events: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read the event log.",
            subcommands: [Read.self, Tail.self]
        )
    }

    /// `crmctl audit …`: hash-chain verification.
    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the hash chain of the event log.",
            subcommands: [Verify.self]
        )
    }

    /// `crmctl system …`: daemon health, statistics and backups.
    struct System: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that crmd answers, show its statistics, take a hot backup, rotate the key-encryption key.",
            subcommands: [Ping.self, Stats.self, Metrics.self, Backup.self, BackupKeys.self, RotateKeys.self]
        )
    }

    /// `crmctl projection …`: the read models.
    struct Projection: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the read models (projections) and rebuild them from the log.",
            subcommands: [System.ProjectionStatus.self, System.ProjectionRebuild.self]
        )
    }
}
