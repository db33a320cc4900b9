import CRMJSON
import CRMProtocol
import Testing

@Suite struct JSONRPCTests {
    @Test func decodesAValidRequest() throws {
        let request = try RPCRequest.decode(["jsonrpc": "2.0", "id": 7, "method": "system.ping", "params": [:]]).get()
        #expect(request.id == 7)
        #expect(request.method == "system.ping")
        #expect(request.params == [:])
    }

    @Test func aRequestWithoutIdIsANotification() throws {
        let request = try RPCRequest.decode(["jsonrpc": "2.0", "method": "system.ping"]).get()
        #expect(request.id == nil)
        let withNull = try RPCRequest.decode(["jsonrpc": "2.0", "id": nil, "method": "system.ping"]).get()
        #expect(withNull.id == .null)
    }

    static let malformed: [(String, Int, String)] = [
        ("1", -32600, "bad_request"),
        (#"{"jsonrpc":"1.0","id":1,"method":"x"}"#, -32600, "bad_request"),
        (#"{"jsonrpc":"2.0","id":1}"#, -32600, "bad_request"),
        (#"{"jsonrpc":"2.0","id":1,"method":5}"#, -32600, "bad_request"),
        (#"{"jsonrpc":"2.0","id":[1],"method":"x"}"#, -32600, "bad_request"),
        (#"{"jsonrpc":"2.0","id":1,"method":"x","extra":true}"#, -32600, "bad_request"),
        (#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#, -32602, "invalid_field"),
        (#"{"jsonrpc":"2.0","id":1,"method":"x","params":"p"}"#, -32602, "invalid_field"),
    ]

    @Test(arguments: JSONRPCTests.malformed)
    func rejectsMalformedRequests(_ text: String, _ code: Int, _ reason: String) throws {
        let json = try JSON.parse(text)
        guard case .failure(let failure) = RPCRequest.decode(json) else {
            Issue.record("accepted \(json)")
            return
        }
        #expect(failure.error.code == code)
        #expect(failure.error.reason == reason)
    }

    @Test func everyReasonHasADistinctCode() {
        let domainCodes = RPCErrorCode.byReason.filter { $0.value > -32100 && $0.value < -32000 }
        #expect(Set(domainCodes.values).count == domainCodes.count)
        #expect(RPCErrorCode.code(forReason: "missing_field") == -32602)
        #expect(RPCErrorCode.code(forReason: "unknown_command") == -32601)
        #expect(RPCErrorCode.code(forReason: "no_such_reason") == -32000)
    }

    @Test func errorsRoundTripThroughJSON() throws {
        let error = RPCError(reason: "duplicate_email", message: "taken", field: "emails[0].address", details: ["existing_customer_id": "c1"])
        #expect(RPCError(json: error.json) == error)
        let response = RPCResponse.failure(id: "r1", error: error)
        #expect(throws: RPCError.self) { try RPCResponse.result(of: response) }
        #expect(try RPCResponse.result(of: RPCResponse.success(id: 1, result: ["ok": true])) == ["ok": true])
    }

    @Test func aSuccessWrittenDirectlyIsTheSerializedResponse() throws {
        let results: [JSON] = [
            .null, 5, "text", ["b": 1, "a": [true, nil]], [:], [],
            .serialized(SerializedJSON(Array(#"{"a":1,"z":"\u0001"}"#.utf8))),
        ]
        for id: JSON in [1, -7, "r-1", "quote \" and \\", .null, 2.5] {
            for result in results {
                let direct = RPCResponse.serializedSuccess(id: id, result: result)
                #expect(direct == RPCResponse.success(id: id, result: result).serialized(), "\(id) \(result)")
            }
        }
    }

    @Test func plainRequestLinesDecodeAsTheParsedObjectDoes() throws {
        let plain = [
            #"{"id":1,"jsonrpc":"2.0","method":"customer.get","params":{"customer_id":"c1"}}"#,
            #" { "method" : "system.ping" , "jsonrpc" : "2.0" } "#,
            #"{"jsonrpc":"2.0","id":"r-1","method":"x","params":{}}"#,
            #"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
            #"{"jsonrpc":"2.0","id":2.5,"method":"x","params":{"a":[1,{"b":null}],"c":"\u00e9"}}"#,
        ]
        for line in plain {
            let bytes = Array(line.utf8)
            let decoded = try #require(RPCRequest.decodePlain(line: bytes), "\(line)")
            #expect(decoded == (try RPCRequest.decode(JSON.parse(bytes)).get()), "\(line)")
        }
        // Everything else is left to the general path, which gives the errors.
        let others = JSONRPCTests.malformed.map(\.0) + [
            #"[{"jsonrpc":"2.0","id":1,"method":"x"}]"#, #"{"jsonrpc":"2.0","id":1,"method":"x","id":2}"#,
            #"{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":1,"a":2}}"#, #"{"jsonrpc":"2.0","method":"x"} x"#,
            #"{"jsonrpc":"2.0","id":true,"method":"x"}"#, #"{"jsonrpc":"2.0","id":1}"#, #"{"id":1,"method":"x"}"#,
            #"{"jsonrpc":"2.0","id":1,"method":"x""#, "", "{}", "null",
        ]
        for line in others {
            #expect(RPCRequest.decodePlain(line: Array(line.utf8)) == nil, "\(line)")
        }
    }
}
