/// The service commands (schedules, SLA policies, tickets).
public enum ServiceCommands {
    /// Command types of the service desk.
    public static let all: [any DomainCommand.Type] = [
        DefineSchedule.self, DefineSlaPolicy.self, RetireSlaPolicy.self, OpenTicket.self, ReplyToTicket.self,
        SetTicketStatus.self, SetTicketPriority.self, TagTicket.self,
    ]
}
