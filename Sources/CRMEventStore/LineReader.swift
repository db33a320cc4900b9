public import Foundation

/// Reads `\n`-terminated lines from a file handle in 64 KiB chunks.
public struct LineReader {
    let handle: FileHandle
    var buffer: [UInt8] = []
    var start = 0
    var atEnd = false

    public init(handle: FileHandle) { self.handle = handle }

    /// The next line without its `\n`, or `nil` at the end of the file.
    public mutating func next() throws -> [UInt8]? {
        while true {
            if let newline = self.buffer[self.start...].firstIndex(of: 0x0A) {
                let line = Array(self.buffer[self.start..<newline])
                self.start = newline + 1
                return line
            }
            if self.atEnd {
                guard self.start < self.buffer.count else { return nil }
                let line = Array(self.buffer[self.start...])
                self.start = self.buffer.count
                return line
            }
            self.buffer.removeFirst(self.start)
            self.start = 0
            let chunk = try self.handle.read(upToCount: 1 << 16) ?? Data()
            if chunk.isEmpty { self.atEnd = true } else { self.buffer.append(contentsOf: chunk) }
        }
    }
}
