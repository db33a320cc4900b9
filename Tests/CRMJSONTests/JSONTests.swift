import CRMJSON
import Testing

@Suite struct JSONParsingTests {
    @Test func parsesEveryKindOfValue() throws {
        let json = try JSON.parse(#"{"a":[1,-2.5,true,false,null,"x"],"b":{"c":"\u00e9\n"}, "n": 12345678901}"#)
        #expect(json["a"] == [1, -2.5, true, false, nil, "x"])
        #expect(json["b"]?["c"] == "é\n")
        #expect(json["n"] == .int(12_345_678_901))
    }

    @Test func serializationIsCanonical() throws {
        let a = try JSON.parse(#"{"b":1,"a":{"z":true,"y":[]},"é":"\"q\""}"#)
        #expect(a.serializedString() == #"{"a":{"y":[],"z":true},"b":1,"é":"\"q\""}"#)
        #expect(try JSON.parse(a.serialized()) == a)
    }

    @Test func escapesControlCharactersAndKeepsOneLine() {
        let text: JSON = .string("line1\nline2\t\u{01}")
        #expect(text.serializedString() == #""line1\nline2\t\u0001""#)
    }

    @Test func surrogatePairsDecode() throws {
        #expect(try JSON.parse(#""\ud83d\ude00""#) == "😀")
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "tru", "\"unterminated", "{\"a\" 1}", "[1 2]",
        "\"\\x\"", "\"\\ud800\"", "{\"a\":1}{", "nul", "1e", "\"a\u{01}\"",
    ])
    func rejectsMalformedText(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        let bytes: [UInt8] = [0x22, 0xC3, 0x28, 0x22]
        #expect(throws: JSONParseError.self) { try JSON.parse(bytes) }
    }

    @Test func rejectsDuplicateKeys() {
        #expect(throws: JSONParseError.self) { try JSON.parse(#"{"a":1,"a":2}"#) }
    }

    @Test func rejectsDeepNesting() {
        let deep = String(repeating: "[", count: JSON.maximumDepth + 1) + String(repeating: "]", count: JSON.maximumDepth + 1)
        #expect(throws: JSONParseError.self) { try JSON.parse(deep) }
        let ok = String(repeating: "[", count: JSON.maximumDepth) + String(repeating: "]", count: JSON.maximumDepth)
        #expect(throws: Never.self) { try JSON.parse(ok) }
    }

    @Test func numbersKeepTheirKind() throws {
        #expect(try JSON.parse("3") == .int(3))
        #expect(try JSON.parse("3.0") == .double(3))
        #expect(throws: JSONParseError.self) { try JSON.parse("1e400") }
        #expect(try JSON.parse("99999999999999999999") == .double(1e20))
        #expect(JSON.double(3).serializedString() == "3")
        #expect(JSON.double(0.5).serializedString() == "0.5")
        #expect(try JSON.parse("-123456789012345678") == .int(-123_456_789_012_345_678))
        #expect(try JSON.parse("9223372036854775807") == .int(.max))
        #expect(try JSON.parse("-9223372036854775808") == .int(.min))
        #expect(try JSON.parse("-0") == .int(0))
    }

    @Test func integersSerializeAsTheirDecimalDigits() {
        var values: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, .max, .min, .max - 1, .min + 1]
        var power: Int64 = 1
        for _ in 0..<18 {
            power *= 10
            values += [power, power - 1, -power, -(power - 1)]
        }
        for value in values {
            #expect(JSON.int(value).serializedString() == String(value))
        }
        #expect(JSON.array([.int(-5), .int(42)]).serializedString() == "[-5,42]")
    }

    @Test func stringsWithAndWithoutEscapesRoundTrip() throws {
        let text = #"{"a":"plain","b":"h\u00e9llo \"q\" \\ \n","c":"héllo ✓","d":""}"#
        let json = try JSON.parse(text)
        #expect(json["a"] == "plain")
        #expect(json["b"] == "héllo \"q\" \\ \n")
        #expect(json["c"] == "héllo ✓")
        #expect(json["d"] == "")
        #expect(try JSON.parse(json.serialized()) == json)
        #expect(json.serializedString() == #"{"a":"plain","b":"héllo \"q\" \\ \n","c":"héllo ✓","d":""}"#)
    }
}

@Suite struct JSONDocumentTests {
    /// A profile-like document: nested objects and arrays, escapes, numbers of both kinds.
    static let document: JSON = [
        "customer_id": "c1", "version": 3, "score": 2.5, "active": true, "merged_into": nil,
        "name": ["first": "Ada", "last": "Lo\"ve\\lace"],
        "tags": ["a", "b"], "history": [["stage": "lead", "exited_at": nil], []],
        "stats": ["counts": ["call": 1, "note": 0], "last": "2026-01-01T00:00:00.000Z"], "é": [:],
    ]

    @Test func readsMembersAndWritesAnUnchangedDocumentBackAsItWas() throws {
        let bytes = Self.document.serialized()
        let document = try JSONDocument(canonical: bytes)
        #expect(document.serialized() == bytes)
        for key in ["customer_id", "version", "score", "active", "merged_into", "name", "tags", "history", "stats", "é"] {
            #expect(document[key] == Self.document[key], "member \(key)")
        }
        #expect(document["missing"] == nil)
        #expect(document["name"]?["last"]?.stringValue == "Lo\"ve\\lace")
    }

    @Test func settingMembersGivesTheBytesOfAFullParse() throws {
        let bytes = Self.document.serialized()
        var document = try JSONDocument(canonical: bytes)
        var full = try JSON.parse(bytes)
        let changes: [(String, JSON?)] = [
            ("stats", ["counts": ["call": 2, "note": 0], "last": nil]),  // replaced
            ("version", 4),  // replaced scalar
            ("aaa", "first"),  // added before every stored key
            ("zzz", [1, 2]),  // added after every stored key
            ("history2", []),  // added between stored keys
            ("tags", nil),  // removed
            ("nothing", nil),  // removing a member that is not there
        ]
        for (key, value) in changes {
            document[key] = value
            full[key] = value
        }
        #expect(document.serialized() == full.serialized())
        #expect(document["stats"]?["counts"]?["call"] == 2)
        #expect(document["tags"] == nil)
        document["tags"] = ["c"]
        full["tags"] = ["c"]
        #expect(document.serialized() == full.serialized())
    }

    /// A reply that adds a block to a rendered document (`customer.get`'s `value`) keeps it text: the
    /// member accessors of `JSON.serialized` read and write through a document, with the bytes of a
    /// full parse.
    @Test func serializedTextStaysTextWhenAMemberIsSet() throws {
        let bytes = Self.document.serialized()
        var text = JSON.serialized(SerializedJSON(bytes))
        var full = try JSON.parse(bytes)
        #expect(text["customer_id"] == "c1")
        #expect(text["name"]?["last"] == "Lo\"ve\\lace")
        #expect(text["missing"] == nil)
        for (key, value) in [("value", ["clv": 12.5] as JSON), ("feedback", nil), ("tags", nil), ("aaa", [])] {
            text[key] = value
            full[key] = value
        }
        guard case .serialized(let changed) = text else {
            Issue.record("a member set on serialized text parsed it: \(text)")
            return
        }
        #expect(changed.bytes == full.serialized())
        // Serialized text that is not an object is parsed and left without the member, as before.
        var array = JSON.serialized(SerializedJSON(Array("[1,2]".utf8)))
        array["a"] = 1
        #expect(array == [1, 2])
    }

    @Test func anEmptyObjectTakesMembers() throws {
        var document = try JSONDocument(canonical: Array("{}".utf8))
        #expect(document.serialized() == Array("{}".utf8))
        document["b"] = 1
        document["a"] = ["x": true]
        #expect(String(decoding: document.serialized(), as: UTF8.self) == #"{"a":{"x":true},"b":1}"#)
    }

    @Test(arguments: [
        (#"[1,2]"#, "expected an object"),
        (#"{"a":{"b":1}"#, "unexpected end of input"),
        (#"{"a":{"b":1]}"#, "mismatched bracket"),
        (#"{"a":["x]}"#, "unterminated string"),
        (#"{"a":[@]}"#, "unexpected character"),
        (#"{"a":tru}"#, "invalid literal"),
        (#"{"a":[1]} x"#, "unexpected data after the JSON value"),
        (#"{"b":1,"a":2}"#, "key \"a\" out of canonical order"),
        (#"{"a":1,"a":[2]}"#, "key \"a\" out of canonical order"),
    ])
    func rejectsTextThatIsNotACanonicalObject(text: String, message: String) {
        #expect {
            try JSONDocument(canonical: Array(text.utf8))
        } throws: { error in
            (error as? JSONParseError)?.message == message
        }
    }

    @Test func rejectsNestingDeeperThanTheLimit() {
        let depth = JSON.maximumDepth
        let deep = "{\"a\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        #expect(throws: JSONParseError.self) { try JSONDocument(canonical: Array(deep.utf8)) }
    }

    @Test func serializedTextThatIsNotJSONReadsAsMissing() {
        let broken = JSON.serialized(SerializedJSON(Array(#"{"a":[1,}"#.utf8)))
        #expect(broken["a"] == nil)
        #expect(broken[0] == nil)
        #expect(broken.objectValue == nil)
        #expect(broken.arrayValue == nil)
    }
}

@Suite struct CanonicalJSONWriterTests {
    @Test func writesWhatTheSerializerWrites() {
        var writer = CanonicalJSONWriter()
        writer.openObject()
        writer.key("a")
        writer.openArray()
        writer.int(1)
        writer.string(nil)
        writer.openObject()
        writer.key("x")
        writer.bool(true)
        writer.key("y")
        writer.strings(["p", "q\"r"])
        writer.closeObject()
        writer.openArray()
        writer.closeArray()
        writer.null()
        writer.closeArray()
        writer.key("b")
        writer.json(["z": 1.5, "k": [false]])
        writer.key("c")
        writer.openObject()
        writer.closeObject()
        writer.closeObject()
        let tree: JSON = [
            "a": [1, nil, ["x": true, "y": ["p", "q\"r"]], [], nil], "b": ["z": 1.5, "k": [false]], "c": [:],
        ]
        #expect(writer.bytes == tree.serialized())
    }
}
