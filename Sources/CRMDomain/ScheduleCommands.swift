import Foundation

/// Event type names and stream names of the service desk.
public enum ServiceEventType {
    /// `ScheduleDefined`.
    public static let scheduleDefined = "ScheduleDefined"
    /// `SlaPolicyDefined`.
    public static let slaPolicyDefined = "SlaPolicyDefined"
    /// `SlaPolicyRetired`.
    public static let slaPolicyRetired = "SlaPolicyRetired"
    /// `TicketOpened`.
    public static let ticketOpened = "TicketOpened"
    /// `TicketMessageAdded`.
    public static let ticketMessageAdded = "TicketMessageAdded"
    /// `TicketStatusChanged`.
    public static let ticketStatusChanged = "TicketStatusChanged"
    /// `TicketPriorityChanged`.
    public static let ticketPriorityChanged = "TicketPriorityChanged"
    /// `TicketTagged`.
    public static let ticketTagged = "TicketTagged"
    /// `SlaPolicyApplied`.
    public static let slaPolicyApplied = "SlaPolicyApplied"
    /// `SlaPolicyRemoved`.
    public static let slaPolicyRemoved = "SlaPolicyRemoved"
    /// `TicketAssigned`.
    public static let ticketAssigned = "TicketAssigned"
    /// `TicketTypeChanged`.
    public static let ticketTypeChanged = "TicketTypeChanged"
    /// `ComplaintResolved`.
    public static let complaintResolved = "ComplaintResolved"
}

/// Stream names of the service desk: `schedule-<id>`, `slapolicy-<id>`, `ticket-<id>`.
public enum ServiceStream {
    /// `schedule-<id>`.
    public static func schedule(_ id: String) -> String { "schedule-\(id)" }
    /// `slapolicy-<id>`.
    public static func policy(_ id: String) -> String { "slapolicy-\(id)" }
    /// `ticket-<id>`.
    public static func ticket(_ id: String) -> String { "ticket-\(id)" }
}

/// `schedule.define`: defines (or redefines, as a new version) a business-hours schedule.
///
/// Emits `ScheduleDefined{schedule_id, version, name, timezone, hours, holidays}`.
public struct DefineSchedule: DomainCommand {
    /// `schedule.define`.
    public static let method = "schedule.define"

    /// The schedule as given (version 0 until decided).
    public let schedule: BusinessSchedule

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        schedule: BusinessSchedule
    ) {
        self.schedule = schedule
    }

    /// `schedule-<schedule_id>`.
    public func targetStream(_ context: CommandContext) -> String? {
        ServiceStream.schedule(self.schedule.scheduleID)
    }

    /// Appends the next version.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        var schedule = self.schedule
        schedule.version = (try state.schedule(schedule.scheduleID)?.version ?? 0) + 1
        let event = NewEvent(
            .service(.scheduleDefined(ScheduleDefined(schedule: schedule))),
            stream: ServiceStream.schedule(schedule.scheduleID)
        )
        return Decision(
            events: [event],
            result: CommandResult(.schedule, schedule.scheduleID, version: schedule.version)
        )
    }
}

extension DecisionState {
    /// The latest version of schedule `id`, or `nil`.
    public func schedule(_ id: String) throws -> BusinessSchedule? {
        try self.record(.schedules, id).map(BusinessSchedule.init(decoding:))
    }
}

extension DecisionStateStore {
    /// Stores `schedule` under its id.
    func setSchedule(_ schedule: BusinessSchedule) throws {
        try self.setRecord(.schedules, schedule.scheduleID, schedule.encoded())
    }
}
