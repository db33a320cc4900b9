import Testing

@testable import CRMProjections

/// The keys of the customer read model built for every event: the name index's normal form (an ASCII
/// path beside the general one) and the keys of one customer's rows.
@Suite struct ProfileKeysTests {
    @Test func namesAreLowerCasedWithOneSpaceBetweenWordsAndNoControlCharacters() {
        #expect(ProfileKeys.normalizedName("  Ada  ", "LOVELACE\n") == "ada lovelace")
        #expect(ProfileKeys.normalizedName("A\u{7}d\u{7F}a", nil) == "ada")
        #expect(ProfileKeys.normalizedName("Mary\t\t Ann", "") == "mary ann")
        #expect(ProfileKeys.normalizedName("\t", "  ") == "")
        #expect(ProfileKeys.normalizedName(nil, "Smith") == "smith")
        // Outside ASCII: Unicode's lower case, white space and control characters.
        #expect(ProfileKeys.normalizedName("ÉLODIE", "Müller") == "élodie müller")
        #expect(ProfileKeys.normalizedName("Jean\u{A0}Luc\u{85}", "\u{2003}Zoë") == "jean luc zoë")
        #expect(ProfileKeys.normalizedName("Ada\u{9F}", nil) == "ada")
        #expect(ProfileKeys.nameCompanyKey(first: "Ada", last: nil, company: " ACME  Ltd ") == "ada\u{0}acme ltd")
        #expect(ProfileKeys.nameCompanyKey(first: "Ada", last: "L", company: "  ") == nil)
        #expect(ProfileKeys.nameCompanyKey(first: nil, last: " ", company: "Acme") == nil)
    }

    /// Every ASCII character reads the same on the ASCII path as on the general one (taken when the
    /// text also holds a character outside ASCII).
    @Test func theASCIIPathAgreesWithTheGeneralOneOnEveryASCIICharacter() {
        for byte in UInt8(0)...0x7F {
            let text = "x" + String(UnicodeScalar(byte)) + "Y"
            #expect(
                ProfileKeys.normalizedName(text, nil) + "é" == ProfileKeys.normalizedName(text + "é", nil),
                "character \(byte)"
            )
        }
    }

    @Test func aCustomersRowsSortTogetherInTheirOrder() {
        let id = "c1"
        let plain = Array(id.utf8)
        let personal = ProfileKeys.personalKey(id)
        let stats = ProfileKeys.statsKey(id)
        let newer = ProfileKeys.positionKey(id, 7)
        let older = ProfileKeys.positionKey(id, 6)
        let timeline = ProfileKeys.timelineKey(id, at: -5, seq: 9)
        #expect(personal == plain + [0])
        #expect(stats == plain + [0, 0])
        #expect(newer == ProfileKeys.positionsPrefix(id) + ProfileKeys.bigEndian(~7))
        #expect(timeline == ProfileKeys.timelinePrefix(id) + ProfileKeys.timelineSuffix(at: -5, seq: 9))
        #expect(ProfileKeys.timelineSuffix(at: -5, seq: 9).count == 16)
        #expect(ProfileKeys.bigEndian(0x0102_0304_0506_0708) == [1, 2, 3, 4, 5, 6, 7, 8])
        let ordered = [plain, personal, stats, newer, older, timeline]
        #expect(ordered == ordered.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(newer.withUnsafeBytes { ProfileKeys.decodePositionKey($0, prefixLength: plain.count + 2) } == 7)
        #expect(ProfileKeys.pairKey([1, 2], "c9") == [1, 2, 0] + Array("c9".utf8))
        #expect(ProfileKeys.pairPrefix([1, 2]) == [1, 2, 0])
    }

    @Test func repeatedIdsAreDroppedInTheOrderTheyCameAtAnyLength() {
        #expect(["b", "a", "b", "c", "a"].uniqued() == ["b", "a", "c"])
        #expect([String]().uniqued() == [])
        let many = (0..<40).map { "c\($0 % 25)" }
        #expect(many.uniqued() == (0..<25).map { "c\($0)" })
    }
}
