import CRMDomain
import CRMJSON
import CRMParams

/// A validated `events.subscribe` request.
public struct Subscription: Sendable {
    /// The id notifications carry.
    public var id: String
    /// First position to deliver.
    public var from: UInt64
    /// The `events.read` filter params (`stream`, `stream_prefix`, `type`, `actor_uid`).
    var filter: [String: JSON]
}

/// Subscriptions: validates `events.subscribe` and delivers a subscription's events, first those
/// already in the log, then each new one as the writer commits it.
public final class Subscriptions: Sendable {
    /// The committed head, which wakes deliveries waiting for new events.
    let headSignal: HeadSignal
    /// The log, read a page at a time.
    let log: LogQueries

    /// Subscriptions to the log that `log` reads, woken by `headSignal`.
    init(headSignal: HeadSignal, log: LogQueries) {
        self.headSignal = headSignal
        self.log = log
    }

    /// Validates `events.subscribe` params: `subscription` (an id; default `defaultID`), `from`
    /// (default: the next event to be committed) and the filters of `events.read`.
    public func subscription(_ params: JSON?, defaultID: String) throws -> Subscription {
        var reader = try Params(params)
        let id = try reader.identifier("subscription") ?? defaultID
        guard Identifier.isValid(id) else {
            throw Rejection.invalid("subscription", "must match ^[A-Za-z0-9_-]{1,64}$")
        }
        let from = try reader.int("from")
        if let from, from < 1 { throw Rejection.invalid("from", "must be ≥ 1") }
        var filter: [String: JSON] = [:]
        for key in ["stream", "stream_prefix", "type", "actor_uid"] {
            if let value = try reader.raw(key) { filter[key] = value }
        }
        try reader.finish()
        // Let events.read validate the filters now rather than in the delivery task.
        _ = try self.log.readEvents(
            .object(filter.merging(["limit": 1, "from": .int(Int64.max / 2)]) { $1 }), personalData: false
        )
        return Subscription(id: id, from: from.map { UInt64($0) } ?? self.headSignal.head + 1, filter: filter)
    }

    /// The committed head.
    public var committedHead: UInt64 { self.headSignal.head }

    /// Why a subscription's delivery ended, and the position of the first event not delivered.
    public struct DeliveryEnd: Sendable {
        public enum Reason: Sendable, Equatable {
            /// Cancelled, or crmd is shutting down: nothing to tell the reader.
            case stopped
            /// `send` refused an event: the reader fell behind.
            case refused
            /// Reading the log failed.
            case failed(String)
        }

        public var reason: Reason
        public var next: UInt64
    }

    /// Delivers the subscription's events in order — first those already in the log from `from`,
    /// then each new one as it commits — through `send`, until the task is cancelled, crmd shuts
    /// down, `send` refuses an event (the reader is too slow) or reading fails.
    public func deliver(_ subscription: Subscription, send: (JSON) -> Bool) async -> DeliveryEnd {
        var next = subscription.from
        while !Task.isCancelled, !self.headSignal.isClosed {
            var params = subscription.filter
            params["from"] = .int(Int64(next))
            params["limit"] = 500
            params["max_scan"] = 20_000
            let page: LogQueries.EventPage
            do {
                // Notifications show encrypted personal data by its header only, whoever subscribed.
                page = try self.log.readEventPage(.object(params), personalData: false)
            } catch {
                return DeliveryEnd(reason: .failed("\(error)"), next: next)
            }
            for (index, (seq, _)) in page.events.enumerated() {
                let notification: JSON = [
                    "jsonrpc": "2.0", "method": "events.event",
                    "params": ["subscription": .string(subscription.id), "event": .serialized(page.envelope(index))],
                ]
                guard send(notification) else { return DeliveryEnd(reason: .refused, next: next) }
                next = seq + 1
            }
            if let following = page.nextFrom {
                next = following
                continue
            }
            // The page reached the head of its read transaction: wait for the next commit.
            next = max(next, page.head + 1)
            await self.headSignal.wait(after: page.head)
        }
        return DeliveryEnd(reason: .stopped, next: next)
    }
}
