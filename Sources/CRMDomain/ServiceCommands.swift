/// The service commands (schedules, SLA policies, tickets, DOMAIN.md §2.1, §2.2, §5.1).
public enum ServiceCommands {
    /// Command types of the service desk.
    public static let all: [any DomainCommand.Type] = [
        DefineSchedule.self, DefineSlaPolicy.self, RetireSlaPolicy.self, OpenTicket.self, ReplyToTicket.self,
        SetTicketStatus.self, SetTicketPriority.self, TagTicket.self,
    ]
}
