import ArgumentParser
import CRMJSON
import Testing

@testable import CRMCtl

/// `crmctl migrate` and `crmctl customer export`: flags to params, and what they print.
@Suite struct MigrateCommandTests {
    @Test func migrateNeedsTheEncryptFlagAndATarget() throws {
        let command = try Migrate.parse(["--encrypt-pii", "--to", "/var/lib/crmd-encrypted"])
        #expect(command.method == "system.migrate")
        #expect(try command.params() == ["to": "/var/lib/crmd-encrypted", "encrypt_pii": true])
        #expect(throws: (any Error).self) { try Migrate.parse(["--to", "/x"]) }
        #expect(throws: (any Error).self) { try Migrate.parse(["--encrypt-pii"]) }
        let text = command.render([
            "to": "/var/lib/crmd-encrypted", "events": 25, "from_head": ["position": 25, "hash": "aa"],
            "head": ["position": 26, "hash": "bb"], "kek_dir": "/var/lib/crmd-encrypted-keys",
        ])
        #expect(text.hasPrefix("copied 25 events into /var/lib/crmd-encrypted, personal data encrypted\n"))
        #expect(text.contains("new head  position 26, hash bb (LogMigrated)"))
    }

    @Test func duplicatesListsEachCandidateWithWhy() throws {
        let command = try CRMCtl.Customer.Duplicates.parse(["ada", "--limit", "5"])
        #expect(try command.params() == ["customer_id": "ada", "limit": 5])
        let text = command.render([
            "customer_id": "ada", "truncated": true,
            "candidates": [
                ["customer_id": "c2", "reasons": ["name_company", "phone"], "phones": ["+44201"]],
                ["customer_id": "c3", "reasons": ["phone"], "phones": ["+44201", "+1555"]],
            ],
        ])
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("CUSTOMER"))
        #expect(lines[1] == "c2        same name and company, same phone  +44201")
        #expect(lines[2] == "c3        same phone                         +44201 +1555")
        #expect(lines[3] == "(more candidates: raise --limit)")
        #expect(command.render(["candidates": []]) == "no duplicate candidates for ada")
    }

    @Test func customerExportSendsTheIdAndSummarisesTheDocument() throws {
        let command = try CRMCtl.Customer.Export.parse(["ada", "--output", "ada.json"])
        #expect(command.method == "customer.export")
        #expect(try command.params() == ["customer_id": "ada"])
        let summary = Output.subjectExport(
            [
                "customer_id": "ada", "head": ["position": 9, "hash": "cc"], "profile": ["name": ["full": "Ada L"]],
                "timeline": [[:], [:]], "deals": [], "tickets": [[:]], "consent_history": [], "events": [[:], [:], [:]],
            ],
            path: "ada.json"
        )
        let lines = summary.split(separator: "\n").map(String.init)
        #expect(lines.first == "exported customer ada to ada.json (0600)")
        #expect(lines.contains("  timeline  2"))
        #expect(lines.contains("  events    3"))
    }
}
