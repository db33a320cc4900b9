import ArgumentParser
import CRMApplication
import Foundation
import Logging

/// `crmd import FILE --data-dir DIR`: load an NDJSON export (from `crmctl export`) into an empty
/// data directory, re-checking every hash. Run it while no crmd uses that directory.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load a log exported with `crmctl export` into an empty data directory.",
        discussion: """
            Every event is re-chained and must hash to the value in the export, so the imported log \
            has the same head hash as the exported one. Read models are rebuilt from the log when crmd \
            next starts on the directory. Use - to read the export from stdin.
            """
    )

    @Argument(help: "The NDJSON export file, or - for stdin.")
    var file: String

    @Option(name: .customLong("data-dir"), help: "The empty data directory to fill.")
    var dataDir: String

    func run() throws {
        let input: FileHandle
        if self.file == "-" {
            input = FileHandle.standardInput
        } else {
            let descriptor = open(self.file, O_RDONLY)
            var status = stat()
            let reason: String?
            if descriptor < 0 {
                reason = String(cString: strerror(errno))
            } else if fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
                close(descriptor)
                reason = "it is a directory"
            } else {
                reason = nil
            }
            if let reason {
                // Not a usage error: say why the file cannot be read, without the usage text.
                FileHandle.standardError.write(Data("crmd import: cannot read \(self.file): \(reason)\n".utf8))
                throw ExitCode(1)
            }
            input = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        }
        var logger = Logger(label: "crmd-import")
        logger.logLevel = .warning
        let isTerminal = isatty(STDERR_FILENO) != 0
        do {
            let summary = try LogImport.run(input: input, dataDirectory: self.dataDir, logger: logger) { count in
                if isTerminal { FileHandle.standardError.write(Data("\rimported \(count) events".utf8)) }
            }
            if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
            print("imported \(summary.events) events into \(self.dataDir); head hash \(summary.headHash)")
            if summary.encryptedPersonalData {
                print(
                    "its personal data is encrypted: before starting crmd on \(self.dataDir), copy the exporting "
                        + "crmd's key store (<data_dir>/keys) to \(self.dataDir)/keys and make its key-encryption key "
                        + "(kek-<epoch>.key) available in kek_dir"
                )
            }
        } catch {
            FileHandle.standardError.write(Data("crmd import: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
