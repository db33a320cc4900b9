public import CRMDomain
public import CRMJSON
public import CRMParams

/// What a method is and who may call it: the one table of crmd's JSON-RPC methods, which the server
/// routes by, the access policy checks, `crmctl` lists and the documentation tests hold the docs to.
public struct RPCMethod: Sendable {
    /// Commands write events; queries read read models or the log; system methods run the daemon.
    public enum Kind: String, Sendable, Hashable {
        case command, query, system
    }

    /// The least a caller needs (see ``AccessPolicy``).
    public enum Access: String, Sendable, Hashable, Comparable {
        /// Every peer (`system.ping`).
        case anyone
        /// Any role: `read`, `audit`, `write` or `admin`.
        case read
        /// `audit` (or `admin`): the history of records and the log itself.
        case audit
        /// `write` (or `admin`): every command.
        case write
        /// `admin` only.
        case admin

        public static func < (lhs: Access, rhs: Access) -> Bool {
            let order: [Access] = [.anyone, .read, .audit, .write, .admin]
            return order.firstIndex(of: lhs)! < order.firstIndex(of: rhs)!
        }
    }

    /// The method name, e.g. `customer.create`.
    public let name: String
    public let kind: Kind
    public let access: Access
    /// Whether the method may read much of the log or every record of a read model, so it runs on a
    /// thread of its own rather than the connection's.
    public let isLong: Bool
    /// Whether the method answers `as_of` (a past position or time) by folding the log.
    public let supportsAsOf: Bool
    /// For a command: its params → the typed command. The reader has consumed the common options
    /// already; the decoder reads the command's own members and finishes the reader (unknown members
    /// are `invalid_field`).
    public let decode: (@Sendable (inout Params) throws(Rejection) -> any DomainCommand)?

    init(
        _ name: String,
        _ kind: Kind,
        _ access: Access,
        long: Bool = false,
        asOf: Bool = false,
        decode: (@Sendable (inout Params) throws(Rejection) -> any DomainCommand)? = nil
    ) {
        self.name = name
        self.kind = kind
        self.access = access
        self.isLong = long
        self.supportsAsOf = asOf
        self.decode = decode
    }

    /// A quick query any role may call: the entry of a query of a read model added through
    /// `CoreConfiguration.additionalReadModels`, which the table does not list.
    public static func addedQuery(_ name: String) -> RPCMethod { RPCMethod(name, .query, .read) }

    /// The entry of a command type.
    static func command<C: DomainCommand & ParamsDecodable>(
        _ type: C.Type,
        role: Access = .write
    ) -> RPCMethod {
        RPCMethod(C.method, .command, role) { params throws(Rejection) in try C(params: &params) }
    }
}

/// A command the RPC edge builds from a request's params.
public protocol ParamsDecodable {
    /// Reads the command's members from `params` and validates everything that does not depend on
    /// state, then finishes the reader: members nobody read are `invalid_field`.
    init(params: inout Params) throws(Rejection)
}

extension ParamsDecodable {
    /// The command from a params object holding its own members only.
    public init(params json: JSON?) throws(Rejection) {
        var params = try Params(json)
        try self.init(params: &params)
    }
}

extension CreateCustomer: ParamsDecodable {}
extension UpdateCustomer: ParamsDecodable {}
extension TagCustomer: ParamsDecodable {}
extension AssignOwner: ParamsDecodable {}
extension SetLifecycleStage: ParamsDecodable {}
extension SetLeadStatus: ParamsDecodable {}
extension SetConsent: ParamsDecodable {}
extension LogActivity: ParamsDecodable {}
extension DefinePipeline: ParamsDecodable {}
extension CreateDeal: ParamsDecodable {}
extension MoveDeal: ParamsDecodable {}
extension UpdateDeal: ParamsDecodable {}
extension DefineSchedule: ParamsDecodable {}
extension DefineSlaPolicy: ParamsDecodable {}
extension RetireSlaPolicy: ParamsDecodable {}
extension OpenTicket: ParamsDecodable {}
extension ReplyToTicket: ParamsDecodable {}
extension SetTicketStatus: ParamsDecodable {}
extension SetTicketPriority: ParamsDecodable {}
extension TagTicket: ParamsDecodable {}
extension SetLegalHold: ParamsDecodable {}
extension EraseCustomer: ParamsDecodable {}
extension MergeCustomers: ParamsDecodable {}
extension RecordOrder: ParamsDecodable {}
extension RefundOrder: ParamsDecodable {}
extension CancelOrder: ParamsDecodable {}
extension SetValueModel: ParamsDecodable {}
extension MarkChurned: ParamsDecodable {}
extension UnmarkChurned: ParamsDecodable {}
extension ConfigureValue: ParamsDecodable {}
extension DefineRfmSegmentMap: ParamsDecodable {}
extension AssignTicket: ParamsDecodable {}
extension SetTicketType: ParamsDecodable {}
extension ResolveComplaint: ParamsDecodable {}
extension DefineSurvey: ParamsDecodable {}
extension OfferSurvey: ParamsDecodable {}
extension RespondToSurvey: ParamsDecodable {}
extension DefineSegment: ParamsDecodable {}
extension RetireSegment: ParamsDecodable {}
extension CreateList: ParamsDecodable {}
extension AddToList: ParamsDecodable {}
extension RemoveFromList: ParamsDecodable {}
extension CreateCampaign: ParamsDecodable {}
extension RecordCampaignInteraction: ParamsDecodable {}
extension RecordCampaignCost: ParamsDecodable {}

/// Every JSON-RPC method of crmd.
public enum RPCMethods {
    /// The methods, commands first (customer, sales, service), then queries, then system methods.
    public static let all: [RPCMethod] = [
        .command(CreateCustomer.self), .command(UpdateCustomer.self), .command(TagCustomer.self),
        .command(AssignOwner.self), .command(SetLifecycleStage.self), .command(SetLeadStatus.self),
        .command(SetConsent.self), .command(LogActivity.self), .command(MergeCustomers.self),
        .command(SetLegalHold.self, role: .admin), .command(EraseCustomer.self, role: .admin),
        .command(DefinePipeline.self), .command(CreateDeal.self), .command(MoveDeal.self), .command(UpdateDeal.self),
        .command(DefineSchedule.self), .command(DefineSlaPolicy.self), .command(RetireSlaPolicy.self),
        .command(OpenTicket.self), .command(ReplyToTicket.self), .command(SetTicketStatus.self),
        .command(SetTicketPriority.self), .command(TagTicket.self), .command(AssignTicket.self),
        .command(SetTicketType.self), .command(ResolveComplaint.self),
        .command(DefineSurvey.self), .command(OfferSurvey.self), .command(RespondToSurvey.self),
        .command(DefineSegment.self), .command(RetireSegment.self),
        .command(CreateList.self), .command(AddToList.self), .command(RemoveFromList.self),
        .command(CreateCampaign.self), RPCMethod(SendCampaign.method, .command, .write, long: true),
        .command(RecordCampaignInteraction.self), .command(RecordCampaignCost.self),
        .command(RecordOrder.self), .command(RefundOrder.self), .command(CancelOrder.self),
        .command(MarkChurned.self), .command(UnmarkChurned.self), .command(ConfigureValue.self, role: .admin),
        .command(SetValueModel.self),
        RPCMethod(FitValueModel.method, .command, .write, long: true),
        .command(DefineRfmSegmentMap.self, role: .admin),
        RPCMethod(TakeRfmSnapshot.method, .command, .write, long: true),
        RPCMethod("projection.rebuild", .command, .admin),

        RPCMethod("customer.get", .query, .read, asOf: true),
        RPCMethod("customer.find", .query, .read),
        RPCMethod("customer.timeline", .query, .read),
        RPCMethod("customer.find_duplicates", .query, .read),
        RPCMethod("funnel.snapshot", .query, .read),
        RPCMethod("funnel.report", .query, .read, long: true, asOf: true),
        RPCMethod("deal.get", .query, .read),
        RPCMethod("deal.list", .query, .read),
        RPCMethod("pipeline.get", .query, .read),
        RPCMethod("pipeline.list", .query, .read),
        RPCMethod("ticket.get", .query, .read),
        RPCMethod("ticket.list", .query, .read),
        RPCMethod("sla.ticket", .query, .read, asOf: true),
        RPCMethod("sla.breaching", .query, .read, long: true),
        RPCMethod("sla.report", .query, .read, long: true, asOf: true),
        RPCMethod("value.customer", .query, .read, asOf: true),
        RPCMethod("rfm.report", .query, .read, long: true, asOf: true),
        RPCMethod("churn.report", .query, .read, long: true, asOf: true),
        RPCMethod("cohort.report", .query, .read, long: true, asOf: true),
        RPCMethod("value.clv_simple", .query, .read, long: true),
        RPCMethod("value.predict", .query, .read),
        RPCMethod("value.model.get", .query, .read),
        RPCMethod("value.settings", .query, .read),
        RPCMethod("feedback.report", .query, .read, long: true),
        RPCMethod("complaint.report", .query, .read, long: true),
        RPCMethod("segment.members", .query, .read, long: true),
        RPCMethod("segment.history", .query, .read),
        RPCMethod("segment.preview", .query, .read, long: true),
        RPCMethod("segment.get", .query, .read),
        RPCMethod("segment.list", .query, .read),
        RPCMethod("list.members", .query, .read, long: true),
        RPCMethod("list.get", .query, .read),
        RPCMethod("campaign.report", .query, .read, long: true),
        RPCMethod("campaign.get", .query, .read),
        RPCMethod("customer.history", .query, .audit, long: true),
        RPCMethod("deal.history", .query, .audit, long: true),
        RPCMethod("ticket.history", .query, .audit, long: true),
        RPCMethod("customer.export", .query, .admin, long: true),
        RPCMethod("customer.erasure_status", .query, .admin),
        RPCMethod("events.read", .query, .audit, long: true),
        RPCMethod("events.subscribe", .query, .audit),
        RPCMethod("events.unsubscribe", .query, .audit),
        RPCMethod("audit.verify", .query, .audit, long: true),
        RPCMethod("audit.checkpoints", .query, .audit),

        RPCMethod("system.ping", .system, .anyone),
        RPCMethod("system.stats", .system, .read),
        RPCMethod("system.metrics", .system, .read),
        RPCMethod("projection.status", .system, .read),
        RPCMethod("system.backup", .system, .admin, long: true),
        RPCMethod("system.migrate", .system, .admin, long: true),
        RPCMethod("keys.rotate", .system, .admin, long: true),
        RPCMethod("keys.backup", .system, .admin, long: true),
    ]

    /// The methods by name.
    public static let byName: [String: RPCMethod] = Dictionary(
        uniqueKeysWithValues: RPCMethods.all.map { ($0.name, $0) }
    )

    /// The method called `name`, or `nil`.
    public static func method(_ name: String) -> RPCMethod? { RPCMethods.byName[name] }
}
