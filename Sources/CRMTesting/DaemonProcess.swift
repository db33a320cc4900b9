import Foundation

/// The real `crmd` executable started as a child process on a temporary socket and data directory.
///
/// It is looked up beside the test bundle (the build's products directory), so build the package
/// (`swift build --build-tests`) before running the tests.
public final class DaemonProcess: @unchecked Sendable {
    // @unchecked: `Process` and `Pipe` are used from the test's task only.
    public let process: Process
    public let socketPath: String
    public let dataDirectory: String
    private let output: Pipe
    private let errors: Pipe

    /// The `crmd` executable in the products directory of this test run.
    public static var executablePath: String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        // On Linux the test binary is `<products>/crmdPackageTests.xctest`.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("crmd").path),
            directory.path != "/"
        {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("crmd").path
    }

    /// Starts `crmd` (with `environment` added to this process's) and returns once it reported that
    /// its socket is ready.
    public init(
        socketPath: String,
        dataDirectory: String,
        extraArguments: [String] = [],
        environment: [String: String] = [:]
    ) throws {
        self.socketPath = socketPath
        self.dataDirectory = dataDirectory
        self.process = Process()
        self.process.executableURL = URL(fileURLWithPath: DaemonProcess.executablePath)
        self.process.arguments = ["--socket", socketPath, "--data-dir", dataDirectory, "--log-level", "warning"]
            + extraArguments
        if !environment.isEmpty {
            self.process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, added in added }
        }
        self.output = Pipe()
        self.errors = Pipe()
        self.process.standardOutput = self.output
        self.process.standardError = self.errors
        try self.process.run()
        // Wait for the readiness line; EOF first means the daemon died.
        let handle = self.output.fileHandleForReading
        var buffer: [UInt8] = []
        while !buffer.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty {
                self.process.waitUntilExit()
                let message = String(decoding: self.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                throw DaemonProcessError(message: "crmd exited with \(self.process.terminationStatus): \(message)")
            }
            buffer.append(contentsOf: chunk)
        }
        let line = String(decoding: buffer, as: UTF8.self)
        guard line.hasPrefix("crmd ready") else {
            throw DaemonProcessError(message: "unexpected first line from crmd: \(line)")
        }
    }

    /// Sends `signal` and waits for the process to exit; returns its termination status.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM) -> Int32 {
        kill(self.process.processIdentifier, signal)
        self.process.waitUntilExit()
        return self.process.terminationStatus
    }

    /// Everything the daemon wrote to stderr (read after it exited).
    public func standardError() -> String {
        String(decoding: self.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }
}

/// The daemon process did not start as expected.
public struct DaemonProcessError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }
}
