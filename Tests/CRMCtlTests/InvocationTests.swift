import CRMJSON
import CRMProtocol
import Testing

@testable import CRMCtl

/// Request lines, reply checking and the value parsing helpers.
@Suite struct InvocationTests {
    @Test func requestLineIsCompactJSONRPC() throws {
        let line = Invocation.requestLine(id: 7, method: "customer.get", params: ["customer_id": "c1"])
        #expect(!line.contains(UInt8(ascii: "\n")))
        let json = try JSON.parse(line)
        #expect(json == ["jsonrpc": "2.0", "id": 7, "method": "customer.get", "params": ["customer_id": "c1"]])
        let bare = try JSON.parse(Invocation.requestLine(id: 8, method: "system.ping", params: nil))
        #expect(bare == ["jsonrpc": "2.0", "id": 8, "method": "system.ping"])
    }

    @Test func generatedIDsAreNumbers() {
        #expect(Invocation.makeID().intValue != nil)
    }

    @Test func resultOfAMatchingReply() throws {
        let reply = Array(#"{"jsonrpc":"2.0","id":7,"result":{"pong":true}}"#.utf8)
        #expect(try Invocation.result(ofReply: reply, id: 7) == ["pong": true])
    }

    @Test func errorReplyIsRejected() {
        let reply = Array(
            #"{"jsonrpc":"2.0","id":7,"error":{"code":-32008,"message":"x","data":{"reason":"duplicate_email"}}}"#.utf8
        )
        #expect {
            _ = try Invocation.result(ofReply: reply, id: 7)
        } throws: { error in
            guard case .rejected(let rpc) = error as? CtlFailure else { return false }
            return rpc.reason == "duplicate_email" && rpc.code == -32008
        }
        #expect(CtlFailure.rejected(RPCError(code: 1, message: "x")).exitCode == 1)
    }

    @Test func errorWithNullIDIsStillTheAnswer() {
        let reply = Array(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#.utf8)
        #expect(throws: CtlFailure.rejected(RPCError(code: -32700, message: "parse error"))) {
            try Invocation.result(ofReply: reply, id: 7)
        }
    }

    @Test(arguments: [
        #"{"jsonrpc":"2.0","id":8,"result":{}}"#, #"{"jsonrpc":"2.0","id":"7","result":{}}"#,
        #"{"jsonrpc":"2.0","id":7}"#, #"not json"#, #"[1]"#,
        #"{"jsonrpc":"2.0","id":9,"error":{"code":1,"message":"x"}}"#, #"{"jsonrpc":"2.0","id":7,"error":5}"#,
    ])
    func badRepliesAreProtocolFailures(text: String) {
        #expect {
            _ = try Invocation.result(ofReply: Array(text.utf8), id: 7)
        } throws: { error in
            guard case .badReply = error as? CtlFailure else { return false }
            return (error as? CtlFailure)?.exitCode == 2
        }
    }

    @Test func idsCompareNumerically() {
        #expect(Invocation.sameID(.int(5), .double(5)))
        #expect(!Invocation.sameID(.string("5"), .int(5)))
    }

    @Test func connectionFailureHints() {
        let missing = Invocation.failure(
            connecting: UnixSocketClientError(.connect(errno: 2), path: "./var/crmd.sock"),
            socket: "./var/crmd.sock"
        )
        #expect(missing.exitCode == 2)
        #expect(missing.lines.first == "crmctl: cannot connect to ./var/crmd.sock: no such socket")
        #expect(missing.lines.last?.contains("is crmd running? start it with scripts/run.sh") == true)
        let timedOut = Invocation.failure(talking: UnixSocketClientError(.timedOut, path: "s"), socket: "s")
        #expect(
            timedOut.lines == ["crmctl: crmd at s did not answer in time", "crmctl: raise --timeout if crmd is busy"]
        )
    }

    @Test func parameterHelpers() throws {
        #expect(ParamParsing.scalar("pro") == "pro")
        #expect(ParamParsing.scalar("5") == 5)
        #expect(ParamParsing.scalar("2.5") == 2.5)
        #expect(ParamParsing.scalar("true") == true)
        #expect(ParamParsing.scalar("null") == .null)
        #expect(ParamParsing.scalar(#""007""#) == "007")
        #expect(ParamParsing.scalar("[1]") == "[1]")
        #expect(ParamParsing.scalar("") == "")
        #expect(try ParamParsing.keyValue("a=b=c", option: "--set") == ("a", "b=c"))
        #expect(throws: (any Error).self) { try ParamParsing.keyValue("=x", option: "--set") }
        #expect(throws: (any Error).self) { try ParamParsing.keyValue("novalue", option: "--set") }
        #expect(try ParamParsing.consent(["sms:opted_out"]) == [["channel": "sms", "status": "opted_out"]])
        #expect(throws: (any Error).self) { try ParamParsing.consent(["email"]) }
        #expect(try ParamParsing.callParams("  ") == nil)
        #expect(try ParamParsing.callParams(" {\"a\":1}\n") == ["a": 1])
    }
}
