import CRMProtocol
import CRMRPC
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// docs/PROTOCOL.md stays true to the code it documents.
@Suite struct ProtocolDocTests {
    /// The text of docs/PROTOCOL.md, found from this file's path (`Tests/CRMCtlTests/…`).
    static func protocolDocument() throws -> String {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)
        let path = components.joined(separator: "/") + "/docs/PROTOCOL.md"
        let file = try #require(fopen(path, "r"), "cannot open \(path)")
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func errorTableListsEveryReasonWithItsCode() throws {
        let document = try ProtocolDocTests.protocolDocument()
        for (reason, code) in RPCErrorCode.byReason.sorted(by: { $0.key < $1.key }) {
            #expect(document.contains("| \(code) | `\(reason)` |"), "PROTOCOL.md has no row \(code) \(reason)")
        }
        #expect(document.contains("| \(RPCErrorCode.parseError) | `bad_request` |"))
    }

    @Test func methodTableIsTheOneCrmdRoutesBy() throws {
        let document = try ProtocolDocTests.protocolDocument()
        let start = try #require(document.range(of: "### 10.1 Every method"))
        let rows = document[start.upperBound...].split(separator: "\n").filter { $0.hasPrefix("| `") }
        let expected = RPCMethods.all.map { method in
            "| `\(method.name)` | \(method.kind.rawValue) | \(method.access.rawValue) | "
                + "\(method.isLong ? "long" : "quick") | \(method.supportsAsOf ? "yes" : "") |"
        }
        #expect(rows.map(String.init) == expected)
    }
}
