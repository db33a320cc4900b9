import NIOCore
import Synchronization

/// Keeps every accepted connection alive from its child-channel initializer until a connection task
/// claims it, so none is ever dropped unserved.
///
/// Why: the async `ServerBootstrap` hands accepted channels through a buffer. When the listening
/// channel closes (shutdown) or its iteration is cancelled while a connection is still being set
/// up or sits in that buffer, NIO drops it; the dropped `NIOAsyncChannel`'s writer then traps with
/// "Deinited NIOAsyncWriter without calling finish()" (apple/swift-nio#2813, open). Holding a
/// reference here and closing the leftovers with `executeThenClose` at the end avoids both the trap
/// and a connection left open with nobody serving it.
final class ConnectionRegistry<Inbound: Sendable, Outbound: Sendable>: Sendable {
    private struct State {
        var unclaimed: [ObjectIdentifier: NIOAsyncChannel<Inbound, Outbound>] = [:]
        var isClosed = false
    }

    private let state = Mutex(State())

    init() {}

    /// Records a connection just set up. After ``closeAll()`` the connection is closed instead.
    func register(_ channel: NIOAsyncChannel<Inbound, Outbound>) {
        let isClosed = self.state.withLock { state in
            if !state.isClosed {
                state.unclaimed[ObjectIdentifier(channel.channel)] = channel
            }
            return state.isClosed
        }
        if isClosed {
            // Too late to be served: finish it off the event loop, without waiting.
            Task {
                try? await Self.dispose(channel)
            }
        }
    }

    /// Takes a connection over for serving.
    func claim(_ channel: NIOAsyncChannel<Inbound, Outbound>) {
        _ = self.state.withLock { $0.unclaimed.removeValue(forKey: ObjectIdentifier(channel.channel)) }
    }

    /// Closes every connection that was never claimed; later registrations are closed at once.
    func closeAll() async {
        let leftovers = self.state.withLock { state in
            state.isClosed = true
            defer { state.unclaimed.removeAll() }
            return Array(state.unclaimed.values)
        }
        for channel in leftovers {
            try? await Self.dispose(channel)
        }
    }

    private static func dispose(_ channel: NIOAsyncChannel<Inbound, Outbound>) async throws {
        try await channel.executeThenClose { _, _ in }
    }
}
