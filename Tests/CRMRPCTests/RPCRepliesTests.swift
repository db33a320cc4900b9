import CRMApplication
import CRMDomain
import CRMJSON
import CRMProtocol
import CRMRPC
import Testing

/// The response of a committed command, written straight into bytes, is the serialized response.
@Suite struct RPCRepliesTests {
    static let receipts: [CommandReceipt] = [
        CommandReceipt(
            result: CommandResult(.customer, "c1"),
            events: [AppendedEvent(seq: 1, type: "CustomerCreated", stream: "customer-c1", streamVersion: 1)],
            position: 1
        ),
        CommandReceipt(result: CommandResult(.activity, "a \"1\""), events: [], position: 0),
        CommandReceipt(
            result: CommandResult(.ticket, "t1"),
            events: [
                AppendedEvent(seq: 41, type: "TicketOpened", stream: "ticket-t1", streamVersion: 1),
                AppendedEvent(seq: 42, type: "SlaPolicyApplied", stream: "ticket-t1", streamVersion: 2),
            ],
            position: 42
        ),
        CommandReceipt(result: CommandResult(.slaPolicy, "gold", version: 3), events: [], position: 9),
        CommandReceipt(result: CommandResult(.schedule, "eu", version: 1), events: [], position: 7),
    ]

    @Test(arguments: RPCRepliesTests.receipts)
    func aCommittedResponseIsTheSerializedOne(_ receipt: CommandReceipt) throws {
        for id: JSON in [1, "req-7", .null] {
            let outcome = CommandOutcome.committed(receipt)
            let expected = RPCReplies.response(id: id, RPCReplies.result(of: outcome))!.serialized()
            #expect(RPCReplies.responseText(id: id, outcome) == expected)
        }
        #expect(RPCReplies.responseText(id: nil, .committed(receipt)) == nil)
        // The result is canonical JSON: parsed and serialized again, it is the same text.
        let text = RPCReplies.result(receipt).serialized()
        #expect(try JSON.parse(text).serialized() == text)
    }

    @Test func aCommittedResultHasItsDocumentedMembers() {
        let text = RPCReplies.result(RPCRepliesTests.receipts[2]).serializedString()
        #expect(
            text == #"{"events":[{"seq":41,"stream":"ticket-t1","stream_version":1,"type":"TicketOpened"},"#
                + #"{"seq":42,"stream":"ticket-t1","stream_version":2,"type":"SlaPolicyApplied"}],"#
                + #""position":42,"ticket_id":"t1"}"#
        )
        #expect(
            RPCReplies.result(RPCRepliesTests.receipts[3]).serializedString()
                == #"{"events":[],"policy_id":"gold","position":9,"version":3}"#
        )
    }

    @Test func otherOutcomesUseTheTree() {
        let rejected = CommandOutcome.rejected(Rejection(.notFound, field: "customer_id", "customer c9 does not exist"))
        #expect(
            RPCReplies.responseText(id: 5, rejected)
                == RPCReplies.response(id: 5, RPCReplies.result(of: rejected))!.serialized()
        )
    }
}
