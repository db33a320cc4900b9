import ArgumentParser
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

@testable import CRMCtl

/// `crmctl segment …`: flags and `--where` conditions → params, the checks made before anything is
/// sent, the readable views, and a run against a real crmd (the worked example of
/// docs/protocol/marketing.md §5, paging, versions, retirement and crmd's `invalid_filter`).
@Suite struct SegmentCommandTests {
    // MARK: - Flags → params

    @Test func defineBuildsAnAndGroupFromWhere() throws {
        var (method, params) = try request([
            "segment", "define", "lapsing_gold", "--name", "Lapsing gold", "--description", "Gold, no order lately",
            "--where", "tier eq gold", "--where", "value.last_order_date more_than_days_ago 60",
            "--where", "tags has_any vip, beta", "--where", "owner_id is_set", "--at", "2025-01-01T00:00:00Z",
        ])
        #expect(method == "segment.define")
        #expect(
            params
                == [
                    "segment_id": "lapsing_gold", "name": "Lapsing gold", "description": "Gold, no order lately",
                    "filter": [
                        "all": [
                            ["field": "tier", "op": "eq", "value": "gold"],
                            ["field": "value.last_order_date", "op": "more_than_days_ago", "value": 60],
                            ["field": "tags", "op": "has_any", "value": ["vip", "beta"]],
                            ["field": "owner_id", "op": "is_set"],
                        ]
                    ],
                    "at": "2025-01-01T00:00:00Z",
                ]
        )
        (method, params) = try request([
            "segment", "define", "s", "--name", "S", "--filter",
            #"{"any":[{"all":[{"field":"tier","op":"eq","value":"gold"}]}]}"#,
        ])
        #expect(params?["filter"] == ["any": [["all": [["field": "tier", "op": "eq", "value": "gold"]]]]])
        (method, params) = try request(["segment", "retire", "s", "--at", "2025-02-01T00:00:00Z"])
        #expect(method == "segment.retire")
        #expect(params == ["segment_id": "s", "at": "2025-02-01T00:00:00Z"])
    }

    /// Integers are numbers, `true`/`false` booleans, commas make lists only for the list operators,
    /// ids of `member_of` stay strings, quotes and brackets are JSON, and a value may hold spaces.
    @Test func whereValues() throws {
        let cases: [(String, JSON)] = [
            ("value.orders gte 3", 3), ("do_not_call eq true", true), ("do_not_call eq false", false),
            ("value.revenue.EUR gt 100.50", "100.50"), ("value.last_order_date before 2025-01-01", "2025-01-01"),
            ("tier eq gold,silver", "gold,silver"), ("tier in gold,platinum", ["gold", "platinum"]),
            ("tags has vip", "vip"), ("tags has_all vip", ["vip"]),
            ("value.status not_in churned , inactive", ["churned", "inactive"]), ("segment member_of 42", "42"),
            (#"tier eq "42""#, "42"), (#"tier in ["a,b","c"]"#, ["a,b", "c"]),
            ("source eq trade  show", "trade  show"), ("  lead_status   ne   NEW  ", "NEW"),
        ]
        for (condition, value) in cases {
            let parsed = try SegmentParsing.condition(condition)
            #expect(parsed["value"] == value, "\(condition) → \(parsed)")
        }
        #expect(try SegmentParsing.condition("owner_id is_not_set") == ["field": "owner_id", "op": "is_not_set"])
    }

    @Test func membersAndTheOtherQueriesMapTheirFlags() throws {
        var (method, params) = try request(["segment", "members", "s", "--as-of", "2025-05-01"])
        #expect(method == "segment.members")
        #expect(params == ["segment_id": "s", "as_of": "2025-05-01T00:00:00Z"])
        (method, params) = try request([
            "segment", "members", "s", "--as-of", "2025-05-01T12:00:00+02:00", "--current", "--limit", "10",
            "--cursor", "c9",
        ])
        #expect(
            params
                == [
                    "segment_id": "s", "as_of": "2025-05-01T12:00:00+02:00", "definition": "current", "limit": 10,
                    "cursor": "c9",
                ]
        )
        // --all takes the largest pages unless --limit says otherwise.
        (method, params) = try request(["segment", "members", "s", "--all"])
        #expect(params == ["segment_id": "s", "limit": 1000])
        (method, params) = try request(["segment", "members", "s", "--all", "--limit", "2"])
        #expect(params == ["segment_id": "s", "limit": 2])
        (method, params) = try request(["segment", "history", "s", "c1"])
        #expect(method == "segment.history")
        #expect(params == ["segment_id": "s", "customer_id": "c1"])
        (method, params) = try request(["segment", "preview", "--where", "tier eq gold", "--as-of", "2030-01-01"])
        #expect(method == "segment.preview")
        #expect(
            params
                == [
                    "filter": ["all": [["field": "tier", "op": "eq", "value": "gold"]]],
                    "as_of": "2030-01-01T00:00:00Z",
                ]
        )
        (method, params) = try request(["segment", "get", "s"])
        #expect(method == "segment.get" && params == ["segment_id": "s"])
        (method, params) = try request(["segment", "list"])
        #expect(method == "segment.list" && params == nil)
    }

    @Test func filterFileIsRead() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("filter.json")
        try Data(#" {"all":[{"field":"tier","op":"eq","value":"gold"}]}"#.utf8).write(to: URL(fileURLWithPath: path))
        let (_, params) = try request(["segment", "preview", "--filter-file", path])
        #expect(params == ["filter": ["all": [["field": "tier", "op": "eq", "value": "gold"]]]])
        let missing = try #require(
            try CRMCtl.parseAsRoot(["segment", "preview", "--filter-file", directory.appending("none.json")])
                as? any RPCCommand
        )
        #expect {
            _ = try missing.params()
        } throws: { error in
            (error as? ValidationError)?.message.contains("cannot read \(directory.appending("none.json"))") == true
        }
        try Data("[1]".utf8).write(to: URL(fileURLWithPath: path))
        let array = try #require(
            try CRMCtl.parseAsRoot(["segment", "define", "s", "--name", "S", "--filter-file", path]) as? any RPCCommand
        )
        #expect {
            _ = try array.params()
        } throws: { error in
            (error as? ValidationError)?.message.contains("must be a JSON object") == true
        }
    }

    /// One filter source, and `--where` conditions crmctl can read; refused before anything is sent.
    @Test(arguments: [
        (["segment", "define", "s", "--name", "S"], "give the filter: --filter JSON, --filter-file PATH or --where"),
        (
            ["segment", "define", "s", "--name", "S", "--filter", "{}", "--where", "tier eq gold"],
            "give the filter one way: --filter, --filter-file or --where, not --filter and --where"
        ),
        (
            ["segment", "preview", "--filter-file", "f.json", "--where", "tier eq gold"],
            "not --filter-file and --where"
        ),
        (["segment", "preview", "--where", "tier"], "--where 'tier': expected FIELD OP [VALUE], e.g. --where"),
        (["segment", "preview", "--where", "  "], "expected FIELD OP [VALUE]"),
        (["segment", "preview", "--where", "tier eq"], "--where 'tier eq': tier eq needs a value"),
        (["segment", "preview", "--where", "owner_id is_set u1"], "is_set takes no value"),
        (["segment", "preview", "--where", "tags has_any ,"], "has_any needs a comma-separated list"),
        (["segment", "preview", "--where", #"tier eq "gold"#], "is not a JSON string or list"),
        (["segment", "preview", "--filter", "{\"all\":"], "--filter is not valid JSON"),
        (["segment", "preview", "--filter", "[]"], "--filter must be a JSON object"),
        (["segment", "members", "s", "--as-of", "May 1"], "YYYY-MM-DD"),
        (["segment", "members", "s", "--limit", "1001"], "between 1 and 1000"),
    ])
    func badFiltersAreRefused(arguments: [String], message: String) {
        #expect {
            try CRMCtl.parseAsRoot(arguments)
        } throws: { error in
            CRMCtl.exitCode(for: error) == .validationFailure && CRMCtl.message(for: error).contains(message)
        }
    }

    /// crmd's `invalid_filter` keeps its path and reason, and names the `--where` the path points at.
    @Test func invalidFilterNamesTheWhere() throws {
        let message = "filter.all[1].op: tier takes eq, ne, in, not_in, is_set, is_not_set, not bigger"
        let error = RPCError(
            reason: "invalid_filter", message: message, field: "filter",
            details: ["path": "filter.all[1].op", "reason": "bad_operator"]
        )
        let arguments = [
            "segment", "define", "s", "--name", "S", "--where", "tier eq gold", "--where", "tier bigger gold",
        ]
        let command = try #require(try CRMCtl.parseAsRoot(arguments) as? any RPCCommand)
        #expect(
            command.errorLines(error) == [
                "crmctl: \(message) [invalid_filter] (field filter)",
                "  path: filter.all[1].op", "  reason: bad_operator", "  condition: --where 'tier bigger gold'",
            ]
        )
        // A JSON filter has no --where to name.
        let json = try #require(
            try CRMCtl.parseAsRoot(["segment", "preview", "--filter", #"{"all":[]}"#]) as? any RPCCommand
        )
        #expect(json.errorLines(error).count == 3)
    }

    // MARK: - Views

    @Test func timesAreShortenedWithoutLoss() {
        #expect(SegmentOutput.time("2025-05-01T00:00:00.000Z") == "2025-05-01 00:00Z")
        #expect(SegmentOutput.time("2025-05-10T14:00:30.000Z") == "2025-05-10 14:00:30Z")
        #expect(SegmentOutput.time("2025-05-10T14:00:00.250Z") == "2025-05-10 14:00:00.250Z")
        #expect(SegmentOutput.time(nil) == "-" && SegmentOutput.time(.null) == "-")
        #expect(SegmentOutput.time("2025-05-01T00:00:00+02:00") == "2025-05-01T00:00:00+02:00")
    }

    @Test func membersAreAHeaderAndOneIDALine() {
        let first: JSON = [
            "segment_id": "s", "version": 2, "definition": "as_of", "as_of": "2025-05-05T00:00:00.000Z",
            "retired": false, "count": 3, "members": ["g1", "g2"], "next_cursor": "g2",
        ]
        #expect(
            SegmentOutput.members(first) == """
                segment s version 2 as of 2025-05-05 00:00Z: 3 members
                g1
                g2
                more: --cursor g2 --as-of 2025-05-05T00:00:00.000Z (or --all)
                """
        )
        let later: JSON = [
            "segment_id": "s", "version": 2, "definition": "current", "as_of": "2025-05-05T00:00:00.000Z",
            "retired": true, "count": nil, "members": ["g5"], "next_cursor": nil,
        ]
        #expect(
            SegmentOutput.members(later) == """
                segment s version 2 (current definition) as of 2025-05-05 00:00Z (retired): 1 member on this page
                g5
                """
        )
    }

    @Test func historyIsATableWithTimelineBars() {
        let result: JSON = [
            "segment_id": "lapsing_gold", "customer_id": "g1",
            "intervals": [
                ["version": 1, "entered_at": "2025-05-01T00:00:00.000Z", "exited_at": "2025-05-10T14:00:00.000Z"],
                ["version": 1, "entered_at": "2025-05-12T09:00:00.000Z", "exited_at": "2025-06-01T09:00:00.000Z"],
                ["version": 2, "entered_at": "2025-06-01T09:00:00.000Z", "exited_at": nil],
            ],
        ]
        let lines = SegmentOutput.history(result).split(separator: "\n").map(String.init)
        #expect(lines[0] == "customer g1 in segment lapsing_gold: 3 intervals, a member now")
        #expect(lines[1] == "  VERSION  ENTERED            EXITED             FOR     TIMELINE")
        #expect(lines[2].hasPrefix("  1        2025-05-01 00:00Z  2025-05-10 14:00Z  9d 14h  ██████"))
        #expect(lines[3].hasPrefix("  1        2025-05-12 09:00Z  2025-06-01 09:00Z  20d     ·"))
        #expect(lines[4].hasPrefix("  2        2025-06-01 09:00Z  -                  -       ·"))
        #expect(lines[4].hasSuffix("█→"))
        // The bars cover the span of all intervals: the first starts at the left, the last ends at the right.
        let bars = SegmentOutput.bars([(0, 10), (20, 40), (40, nil)])
        #expect(bars.allSatisfy { $0.hasPrefix("█") || $0.hasPrefix("·") })
        #expect(bars[0] == String(repeating: "█", count: 6) + String(repeating: "·", count: 18))
        #expect(bars[1] == String(repeating: "·", count: 12) + String(repeating: "█", count: 12))
        #expect(bars[2] == String(repeating: "·", count: 23) + "█→")
        #expect(
            SegmentOutput.history(["segment_id": "s", "customer_id": "c1", "intervals": []])
                == "customer c1 has never been in segment s"
        )
    }

    @Test func previewGetAndList() {
        #expect(
            SegmentOutput.preview(["as_of": "2030-01-01T00:00:00.000Z", "count": 22, "sample": ["a", "b"]]) == """
                22 customers match as of 2030-01-01 00:00Z
                a
                b
                … and 20 more
                """
        )
        #expect(SegmentOutput.preview(["as_of": "2030-01-01T00:00:00.000Z", "count": 1, "sample": ["a"]]) == """
            1 customer matches as of 2030-01-01 00:00Z
            a
            """)
        let segment: JSON = [
            "segment_id": "s", "name": "Silver", "retired": true,
            "versions": [
                [
                    "version": 1, "name": "Gold", "defined_at": "2025-01-01T00:00:00.000Z",
                    "ended_at": "2025-07-01T00:00:00.000Z",
                    "filter": ["any": [["all": [["field": "tier", "op": "eq", "value": "gold"]]]]],
                ],
                [
                    "version": 2, "name": "Silver", "defined_at": "2025-07-01T00:00:00.000Z", "ended_at": nil,
                    "filter": ["any": [["all": [["field": "tier", "op": "eq", "value": "silver"]]]]],
                ],
            ],
        ]
        #expect(
            SegmentOutput.segment(segment) == """
                segment s: Silver (2 versions, retired)
                  VERSION  NAME    DEFINED            ENDED              FILTER
                  1        Gold    2025-01-01 00:00Z  2025-07-01 00:00Z  \
                {"any":[{"all":[{"field":"tier","op":"eq","value":"gold"}]}]}
                  2        Silver  2025-07-01 00:00Z  -                  \
                {"any":[{"all":[{"field":"tier","op":"eq","value":"silver"}]}]}
                """
        )
        #expect(SegmentOutput.list(["segments": []]) == "no segments defined")
        #expect(
            SegmentOutput.list([
                "segments": [
                    [
                        "segment_id": "a", "name": "A", "version": 1, "defined_at": "2025-01-01T00:00:00.000Z",
                        "retired": false,
                    ],
                    [
                        "segment_id": "bb", "name": "Bee", "version": 12, "defined_at": "2025-02-01T08:30:00.000Z",
                        "retired": true,
                    ],
                ]
            ]) == """
                SEGMENT  NAME  VERSION  DEFINED            STATUS
                a        A     1        2025-01-01 00:00Z  active
                bb       Bee   12       2025-02-01 08:30Z  retired
                """
        )
    }

    // MARK: - Against crmd

    /// The worked example of docs/protocol/marketing.md §5 and a few more customers, through crmctl:
    /// define with --where, members at instants with pages and --all, history, preview, a second
    /// version, get, list, retire, --json; crmd's invalid_filter shows its path and the --where; refused
    /// flags exit 64 and write nothing. Every command and query names its instant, so nothing depends
    /// on today's date.
    @Test func theCommandsAgainstARealDaemon() async throws {
        let directory = TemporaryDirectory()
        let daemon = try DaemonProcess(
            socketPath: directory.appending("crmd.sock"),
            dataDirectory: directory.appending("data")
        )
        defer { daemon.stop() }
        let client = try RPCClient(socketPath: daemon.socketPath)
        let crmctl = URL(fileURLWithPath: DaemonProcess.executablePath).deletingLastPathComponent()
            .appendingPathComponent("crmctl").path
        func run(_ arguments: [String]) throws -> ProcessRun {
            try ProcessRun(crmctl, ["--socket", daemon.socketPath] + arguments)
        }
        func succeed(_ arguments: [String]) throws -> String {
            let result = try run(arguments)
            #expect(result.status == 0, "crmctl \(arguments.joined(separator: " ")): \(result.output)")
            return result.output
        }

        var output = try succeed([
            "segment", "define", "lapsing_gold", "--name", "Lapsing gold", "--where", "tier eq gold", "--where",
            "value.last_order_date more_than_days_ago 60", "--at", "2025-01-01T00:00:00Z",
        ])
        #expect(output.hasPrefix("segment lapsing_gold defined (position "), "\(output)")
        #expect(output.hasSuffix(", 1 event) version 1\n"), "\(output)")

        // g1 is the worked example; g2 and g5 lapse too, g4 never ordered, s1 is silver.
        for (id, tier, tags) in [
            ("g1", "gold", [] as [String]), ("g2", "gold", ["vip"]), ("g4", "gold", []), ("g5", "gold", []),
            ("s1", "silver", ["beta"]),
        ] {
            _ = try await client.result(
                "customer.create",
                [
                    "customer_id": .string(id), "first_name": "K", "tier": .string(tier), "tags": .strings(tags),
                    "at": "2025-01-10T00:00:00Z",
                ]
            )
        }
        for (order, customer, amount, at) in [
            ("o1", "g1", "80.00", "2025-03-01T10:00:00Z"), ("o2", "g1", "120.00", "2025-05-10T14:00:00Z"),
            ("o3", "g2", "50.00", "2025-03-01T12:00:00Z"), ("o4", "g5", "70.00", "2025-02-15T09:00:00Z"),
            ("o5", "s1", "30.00", "2025-02-01T09:00:00Z"),
        ] {
            _ = try await client.result(
                "order.record",
                [
                    "order_id": .string(order), "customer_id": .string(customer), "amount": .string(amount),
                    "currency": "EUR", "at": .string(at),
                ]
            )
        }
        _ = try await client.result(
            "order.refund", ["order_id": "o2", "amount": "120.00", "at": "2025-05-12T09:00:00Z"]
        )
        _ = try await client.result(
            "customer.update", ["customer_id": "g1", "set": ["tier": "silver"], "at": "2025-06-01T09:00:00Z"]
        )

        // The worked example's instants for g1; g5 lapsed on 2025-04-17, g2 on 2025-05-01.
        for (asOf, members) in [
            ("2025-04-30T23:59:59Z", ["g5"]), ("2025-05-01T00:00:00Z", ["g1", "g2", "g5"]),
            ("2025-05-10T14:00:00Z", ["g2", "g5"]), ("2025-05-12T09:00:00Z", ["g1", "g2", "g5"]),
            ("2025-06-01T09:00:00Z", ["g2", "g5"]),
        ] {
            output = try succeed(["segment", "members", "lapsing_gold", "--as-of", asOf])
            let lines = output.split(separator: "\n").map(String.init)
            #expect(lines.first?.hasSuffix(": \(members.count) member\(members.count == 1 ? "" : "s")") == true)
            #expect(Array(lines.dropFirst()) == members, "as of \(asOf): \(output)")
        }

        // Pages: the hint names the next cursor and the instant; --cursor continues; --all follows.
        output = try succeed(["segment", "members", "lapsing_gold", "--as-of", "2025-05-05", "--limit", "2"])
        #expect(
            output == """
                segment lapsing_gold version 1 as of 2025-05-05 00:00Z: 3 members
                g1
                g2
                more: --cursor g2 --as-of 2025-05-05T00:00:00.000Z (or --all)

                """
        )
        output = try succeed([
            "segment", "members", "lapsing_gold", "--cursor", "g2", "--as-of", "2025-05-05T00:00:00.000Z",
        ])
        #expect(output == "segment lapsing_gold version 1 as of 2025-05-05 00:00Z: 1 member on this page\ng5\n")
        output = try succeed(["segment", "members", "lapsing_gold", "--as-of", "2025-05-05", "--limit", "2", "--all"])
        #expect(output == "segment lapsing_gold version 1 as of 2025-05-05 00:00Z: 3 members\ng1\ng2\ng5\n")
        output = try succeed(["segment", "members", "lapsing_gold", "--as-of", "2025-05-05", "--limit", "1", "--all"])
        #expect(output.hasSuffix(": 3 members\ng1\ng2\ng5\n"), "\(output)")
        var json = try JSON.parse(
            Array(
                try succeed([
                    "segment", "members", "lapsing_gold", "--as-of", "2025-05-05", "--limit", "2", "--all", "--json",
                ]).utf8
            )
        )
        #expect(json["members"] == ["g1", "g2", "g5"] && json["count"] == 3 && json["next_cursor"] == .null)
        #expect(json["as_of"] == "2025-05-05T00:00:00.000Z" && json["version"] == 1)

        output = try succeed(["segment", "history", "lapsing_gold", "g1"])
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines[0] == "customer g1 in segment lapsing_gold: 2 intervals", "\(output)")
        #expect(lines[1] == "  VERSION  ENTERED            EXITED             FOR     TIMELINE", "\(output)")
        #expect(lines[2].hasPrefix("  1        2025-05-01 00:00Z  2025-05-10 14:00Z  9d 14h  ███"), "\(output)")
        #expect(lines[3].hasPrefix("  1        2025-05-12 09:00Z  2025-06-01 09:00Z  20d     ···"), "\(output)")
        #expect(lines.count == 4)
        output = try succeed(["segment", "history", "lapsing_gold", "g4"])
        #expect(output == "customer g4 has never been in segment lapsing_gold\n")
        json = try JSON.parse(Array(try succeed(["segment", "history", "lapsing_gold", "g1", "--json"]).utf8))
        #expect(json["intervals"]?[1]?["exited_at"] == "2025-06-01T09:00:00.000Z")

        // Preview: now gold are g2, g4 and g5; tags with a list.
        output = try succeed(["segment", "preview", "--where", "tier eq gold", "--as-of", "2030-01-01"])
        #expect(output == "3 customers match as of 2030-01-01 00:00Z\ng2\ng4\ng5\n")
        output = try succeed(["segment", "preview", "--where", "tags has_any vip,beta", "--as-of", "2030-01-01"])
        #expect(output == "2 customers match as of 2030-01-01 00:00Z\ng2\ns1\n")
        json = try JSON.parse(
            Array(
                try succeed([
                    "segment", "preview", "--filter",
                    #"{"all":[{"field":"value.revenue.EUR","op":"gte","value":"60"}]}"#,
                    "--as-of", "2030-01-01", "--json",
                ]).utf8
            )
        )
        #expect(json == ["as_of": "2030-01-01T00:00:00.000Z", "count": 2, "sample": ["g1", "g5"]])
        // An instant before later changes: crmd folds the log up to it again.
        let past = try succeed(["segment", "preview", "--where", "tier eq gold", "--as-of", "2025-03-01"])
        #expect(past.contains("as of 2025-03-01 00:00Z (from the log folded up to then)"), "\(past)")

        // A second version from 2025-07-01: the silver customers.
        output = try succeed([
            "segment", "define", "lapsing_gold", "--name", "Silver", "--filter",
            #"{"any":[{"all":[{"field":"tier","op":"eq","value":"silver"}]}]}"#, "--at", "2025-07-01T00:00:00Z",
        ])
        #expect(output.hasPrefix("segment lapsing_gold defined (position ") && output.hasSuffix(" version 2\n"))
        output = try succeed(["segment", "members", "lapsing_gold", "--as-of", "2025-07-02"])
        #expect(output == "segment lapsing_gold version 2 as of 2025-07-02 00:00Z: 2 members\ng1\ns1\n")
        output = try succeed(["segment", "members", "lapsing_gold", "--as-of", "2025-06-15"])
        #expect(output == "segment lapsing_gold version 1 as of 2025-06-15 00:00Z: 2 members\ng2\ng5\n")
        output = try succeed(["segment", "get", "lapsing_gold"])
        #expect(
            output == """
                segment lapsing_gold: Silver (2 versions)
                  VERSION  NAME          DEFINED            ENDED              FILTER
                  1        Lapsing gold  2025-01-01 00:00Z  2025-07-01 00:00Z  \
                {"any":[{"all":[{"field":"tier","op":"eq","value":"gold"},\
                {"field":"value.last_order_date","op":"more_than_days_ago","value":60}]}]}
                  2        Silver        2025-07-01 00:00Z  -                  \
                {"any":[{"all":[{"field":"tier","op":"eq","value":"silver"}]}]}

                """
        )
        output = try succeed(["segment", "list"])
        #expect(
            output == """
                SEGMENT       NAME    VERSION  DEFINED            STATUS
                lapsing_gold  Silver  2        2025-07-01 00:00Z  active

                """
        )

        output = try succeed(["segment", "retire", "lapsing_gold", "--at", "2025-08-01T00:00:00Z"])
        #expect(output.hasPrefix("segment lapsing_gold retired (position ") && output.hasSuffix(", 1 event)\n"))
        output = try succeed(["segment", "retire", "lapsing_gold", "--at", "2025-08-02T00:00:00Z"])
        #expect(output.hasPrefix("segment lapsing_gold: nothing changed (position "), "\(output)")
        output = try succeed(["segment", "members", "lapsing_gold", "--as-of", "2025-08-02"])
        #expect(output == "segment lapsing_gold version 2 as of 2025-08-02 00:00Z (retired): 0 members\n")
        output = try succeed(["segment", "list"])
        #expect(output.hasSuffix("lapsing_gold  Silver  2        2025-07-01 00:00Z  retired\n"), "\(output)")
        json = try JSON.parse(Array(try succeed(["segment", "list", "--json"]).utf8))
        #expect(json["segments"]?[0]?["retired"] == true)
        json = try JSON.parse(Array(try succeed(["segment", "get", "lapsing_gold", "--json"]).utf8))
        #expect(json["versions"]?.arrayValue?.count == 2 && json["retired"] == true)

        // crmd's refusals: exit 1, the path and reason, and the --where they point at.
        let bad = try run([
            "segment", "define", "x", "--name", "X", "--where", "tier eq gold", "--where", "tier bigger gold",
            "--at", "2025-08-03T00:00:00Z",
        ])
        #expect(bad.status == 1 && bad.output.contains("[invalid_filter] (field filter)"), "\(bad.output)")
        #expect(bad.output.contains("\n  path: filter.all[1].op\n  reason: bad_operator\n"), "\(bad.output)")
        #expect(bad.output.hasSuffix("\n  condition: --where 'tier bigger gold'\n"), "\(bad.output)")
        let personal = try run(["segment", "preview", "--where", "email eq a@example.com"])
        #expect(personal.output.contains("  path: filter.all[0].field\n  reason: personal_field\n"))
        #expect(personal.status == 1 && personal.output.contains("condition: --where 'email eq a@example.com'"))
        let unknown = try run(["segment", "members", "nope", "--as-of", "2025-05-01"])
        #expect(unknown.status == 1 && unknown.output.contains("[unknown_segment]"), "\(unknown.output)")

        // Refused before sending: exit 64, a message naming what to give, and nothing written.
        let head = try await client.result("system.stats")["head"]?["position"]
        for (arguments, message) in [
            (
                ["segment", "define", "y", "--name", "Y", "--filter", #"{"all":[]}"#, "--where", "tier eq gold"],
                "give the filter one way: --filter, --filter-file or --where, not --filter and --where"
            ),
            (["segment", "define", "y", "--name", "Y", "--where", "tier"], "--where 'tier': expected FIELD OP"),
            (["segment", "define", "y", "--name", "Y"], "give the filter: --filter JSON"),
        ] {
            let refused = try run(arguments + ["--at", "2025-08-03T00:00:00Z"])
            #expect(refused.status == 64 && refused.output.contains(message), "\(refused.output)")
        }
        #expect(try await client.result("system.stats")["head"]?["position"] == head)
        #expect(head != nil)
    }
}
