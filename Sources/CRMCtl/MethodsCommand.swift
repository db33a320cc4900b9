import ArgumentParser
import CRMJSON
import CRMRPC

/// `crmctl methods`: crmd's method table, printed from the table the daemon itself routes by.
struct Methods: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every JSON-RPC method of crmd with its kind, role and how it runs.",
        discussion: """
            Works offline: the table is the one crmd routes by and checks roles against, built into this \
            crmctl. ROLE is the least role that may call the method (see docs/PROTOCOL.md §10: admin may \
            call everything, write every command, audit the history and the log, any role the other \
            queries); RUNS is "long" for methods that may read much of the log or a whole read model \
            (they run on a thread of their own); AS_OF tells which queries answer as of a past position \
            or time. Call one with `crmctl call METHOD PARAMS`. No socket is opened: of the global options \
            only --json applies.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Only methods of this kind: command, query or system.", valueName: "kind"))
    var kind: String?

    /// Only `--json` applies: the table is built in, no socket is opened.
    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    func validate() throws {
        if let kind = self.kind, RPCMethod.Kind(rawValue: kind) == nil {
            throw ValidationError("--kind must be command, query or system")
        }
    }

    func run() throws {
        let methods = RPCMethods.all.filter { method in self.kind.map { method.kind.rawValue == $0 } ?? true }
        if self.global.json {
            let rows: [JSON] = methods.map { method in
                [
                    "method": .string(method.name), "kind": .string(method.kind.rawValue),
                    "role": .string(method.access.rawValue), "long": .bool(method.isLong),
                    "as_of": .bool(method.supportsAsOf),
                ]
            }
            print(JSON.array(rows).serializedString())
            return
        }
        let rows = methods.map { method in
            [
                method.name, method.kind.rawValue, method.access.rawValue, method.isLong ? "long" : "quick",
                method.supportsAsOf ? "yes" : "",
            ]
        }
        for line in Output.table(["METHOD", "KIND", "ROLE", "RUNS", "AS_OF"], rows) { print(line) }
    }
}
