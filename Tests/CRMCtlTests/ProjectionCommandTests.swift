import ArgumentParser
import CRMJSON
import Testing

@testable import CRMCtl

/// `crmctl projection status` and `crmctl projection rebuild`.
@Suite struct ProjectionCommandTests {
    static let status: JSON = [
        "head": 1200,
        "projections": [
            [
                "name": "state", "version": 1, "state": "live", "checkpoint": 1200, "lag": 0, "rebuild": nil,
                "failure": nil,
                "last_rebuild": ["reason": "requested", "head": 1100, "events": 1100, "seconds": 1.26],
            ],
            [
                "name": "customers", "version": 2, "state": "rebuilding", "checkpoint": 1200, "lag": 0,
                "rebuild": ["percent": 42.5, "checkpoint": 510, "head": 1200, "eta_seconds": 3.2],
                "failure": nil,
            ],
            [
                "name": "probe", "version": 1, "state": "failed", "checkpoint": 7, "lag": 1193, "rebuild": nil,
                "failure": ["position": 8, "error": "cannot fold", "at": "2026-11-24T03:00:00.000Z"],
            ],
        ],
    ]

    @Test func statusShowsProgressAndFailures() throws {
        let command = try CRMCtl.System.ProjectionStatus.parse([])
        let lines = command.render(Self.status).split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("NAME"))
        #expect(lines[1].hasPrefix("state      1        live"))
        #expect(lines[1].hasSuffix("rebuilt (requested) up to 1100 in 1.3 s"))
        #expect(lines[2].hasSuffix("42.5% (510/1200), about 4 s left"))
        #expect(lines[3].hasSuffix("failed at 8: cannot fold"))
    }

    @Test func rebuildSendsTheNameAndRendersEachProjection() throws {
        let command = try CRMCtl.System.ProjectionRebuild.parse(["customers", "--no-wait"])
        #expect(command.method == "projection.rebuild")
        #expect(try command.params() == ["name": "customers"])
        #expect(command.noWait)
        let rows = Self.status["projections"]!.arrayValue!
        let text = command.render(["projections": .array(Array(rows.dropFirst()))])
        #expect(text == "customers: rebuilding 42.5% (510/1200), about 4 s left\nprobe: failed at 8: cannot fold")
    }

    @Test func rebuildNeedsAName() {
        #expect(throws: (any Error).self) { try CRMCtl.System.ProjectionRebuild.parse([]) }
    }
}
