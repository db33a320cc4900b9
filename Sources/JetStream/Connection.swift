import CNATS
import Foundation

/// One connection to a NATS server (or cluster), reconnecting by itself after the server goes away.
///
/// A thin wrapper of the C client: its blocking calls (connect, JetStream requests, waiting for a
/// message) belong on a thread of the caller's own, never on Swift's cooperative pool. The client
/// calls back on threads of its own.
public final class Connection: @unchecked Sendable {
    let pointer: OpaquePointer

    /// Connects to `url` (`nats://host:port`, or several separated by commas: the servers of a cluster),
    /// naming the connection `name` in the server's monitoring. Fails when no server answers within
    /// `timeoutMillis`; once connected, a lost server is retried every `reconnectWaitMillis`, forever.
    public init(url: String, name: String, timeoutMillis: Int64 = 2_000, reconnectWaitMillis: Int64 = 250)
        throws(NATSError)
    {
        var options: OpaquePointer?
        try check(natsOptions_Create(&options), "natsOptions_Create")
        defer { natsOptions_Destroy(options) }
        let servers = url.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if servers.count > 1 {
            var pointers: [UnsafePointer<CChar>?] = servers.map { UnsafePointer(strdup($0)) }
            defer { for pointer in pointers { free(UnsafeMutablePointer(mutating: pointer)) } }
            let status = pointers.withUnsafeMutableBufferPointer { buffer in
                natsOptions_SetServers(options, buffer.baseAddress, Int32(buffer.count))
            }
            try check(status, "natsOptions_SetServers(\(url))")
        } else {
            try check(natsOptions_SetURL(options, url), "natsOptions_SetURL(\(url))")
        }
        try check(natsOptions_SetName(options, name), "natsOptions_SetName")
        try check(natsOptions_SetTimeout(options, timeoutMillis), "natsOptions_SetTimeout")
        try check(natsOptions_SetAllowReconnect(options, true), "natsOptions_SetAllowReconnect")
        try check(natsOptions_SetMaxReconnect(options, -1), "natsOptions_SetMaxReconnect")
        try check(natsOptions_SetReconnectWait(options, reconnectWaitMillis), "natsOptions_SetReconnectWait")
        var connection: OpaquePointer?
        try check(natsConnection_Connect(&connection, options), "connecting to \(url)")
        self.pointer = connection!
    }

    /// Whether the connection is up (not reconnecting, not closed).
    public var isConnected: Bool { natsConnection_Status(self.pointer) == NATS_CONN_STATUS_CONNECTED }

    /// The URL of the server the connection is attached to, if any.
    public var connectedURL: String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard natsConnection_GetConnectedUrl(self.pointer, &buffer, buffer.count) == NATS_OK else { return nil }
        let text = String(cString: buffer)
        return text.isEmpty ? nil : text
    }

    deinit {
        natsConnection_Close(self.pointer)
        natsConnection_Destroy(self.pointer)
    }
}
