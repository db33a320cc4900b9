@testable import CRMDomain
import Testing

@Suite struct DecodedRecordsTests {
    @Test func reusesADecodedValueOnlyForTheSameBytes() throws {
        let cache = DecodedRecords<String>(capacity: 2)
        var decodes = 0
        func decode(_ bytes: [UInt8]) -> String {
            decodes += 1
            return String(decoding: bytes, as: UTF8.self)
        }
        #expect(try cache.value("p", Array("v1".utf8), decode: decode) == "v1")
        #expect(try cache.value("p", Array("v1".utf8), decode: decode) == "v1")
        #expect(decodes == 1)
        // Changed bytes under the same key (a redefinition, or another data directory) decode afresh.
        #expect(try cache.value("p", Array("v2".utf8), decode: decode) == "v2")
        #expect(decodes == 2)
        // Beyond its capacity the cache starts over rather than grow.
        _ = try cache.value("q", Array("q".utf8), decode: decode)
        _ = try cache.value("r", Array("r".utf8), decode: decode)
        #expect(try cache.value("p", Array("v2".utf8), decode: decode) == "v2")
        #expect(decodes == 5)
    }

    @Test func aRememberedValueAnswersOnlyForItsBytes() throws {
        let cache = DecodedRecords<String>(capacity: 4)
        cache.remember("k", Array("a".utf8), "decoded a")
        var decodes = 0
        func decode(_ bytes: [UInt8]) -> String {
            decodes += 1
            return String(decoding: bytes, as: UTF8.self)
        }
        #expect(try cache.value("k", Array("a".utf8), decode: decode) == "decoded a")
        #expect(decodes == 0)
        #expect(try cache.value("k", Array("b".utf8), decode: decode) == "b")
        #expect(decodes == 1)
    }

    @Test func aCustomerRecordIsReadAsStoredEvenAfterTheCacheSawOtherBytes() throws {
        let state = InMemoryDecisionState()
        var customer = CustomerState(id: "c-cache", status: .active)
        customer.firstName = "Ada"
        try state.setCustomer("c-cache", customer)
        #expect(try state.customer("c-cache")?.firstName == "Ada")
        // The record goes back to other bytes without the cache being told (as when the
        // transaction that wrote it is aborted): the stored bytes win.
        var older = customer
        older.firstName = "Grace"
        try state.setRecord(.customers, "c-cache", older.encoded())
        #expect(try state.customer("c-cache")?.firstName == "Grace")
        try state.setRecord(.customers, "c-cache", nil)
        #expect(try state.customer("c-cache") == nil)
    }
}
