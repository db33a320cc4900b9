import CRMServer
import NIOCore
import NIOEmbedded
import Testing

@Suite("LineFrameDecoder")
struct LineFrameDecoderTests {
    /// Feeds `chunks` one by one and collects every frame produced.
    private func frames(_ chunks: [String], maxLineBytes: Int = 16) -> [LineFrame] {
        var decoder = LineFrameDecoder(maxLineBytes: maxLineBytes)
        var buffer = ByteBuffer()
        var frames: [LineFrame] = []
        for chunk in chunks {
            buffer.writeString(chunk)
            while let frame = decoder.nextFrame(from: &buffer) {
                frames.append(frame)
            }
        }
        return frames
    }

    private func line(_ text: String) -> LineFrame {
        .line(Array(text.utf8))
    }

    @Test func splitsOnNewlineAndStripsCarriageReturn() {
        #expect(self.frames(["a\nbc\r\nd"]) == [self.line("a"), self.line("bc")])
    }

    @Test func ignoresEmptyLines() {
        #expect(self.frames(["\n\r\n\na\n\n"]) == [self.line("a")])
    }

    @Test func joinsALineSplitAcrossReads() {
        #expect(self.frames(["ab", "c", "d\r", "\ne"]) == [self.line("abcd")])
    }

    @Test func keepsALoneCarriageReturnInsideALine() {
        #expect(self.frames(["a\rb\n"]) == [self.line("a\rb")])
    }

    @Test func acceptsALineOfExactlyTheLimit() {
        let full = String(repeating: "x", count: 16)
        #expect(self.frames([full + "\n"]) == [self.line(full)])
        #expect(self.frames([full + "\r", "\n"]) == [self.line(full)])
    }

    @Test func rejectsALineOverTheLimitAndSwallowsTheRest() {
        let long = String(repeating: "x", count: 17)
        #expect(self.frames(["ok\n" + long + "\nnext\n", "more\n"]) == [self.line("ok"), .tooLong])
    }

    @Test func rejectsAPartialLineThatGrowsPastTheLimit() {
        // 17 bytes could still be 16 + "\r"; the 18th proves the line too long without a newline.
        #expect(self.frames([String(repeating: "x", count: 17)]) == [])
        #expect(self.frames([String(repeating: "x", count: 17), "x"]) == [.tooLong])
        #expect(self.frames([String(repeating: "x", count: 10), String(repeating: "y", count: 10)]) == [.tooLong])
    }

    @Test func worksInsideAChannelAndDropsAnUnterminatedTail() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxLineBytes: 8)))
        try channel.writeInbound(ByteBuffer(string: "one\r\ntw"))
        try channel.writeInbound(ByteBuffer(string: "o\n\nthr"))
        #expect(try channel.readInbound(as: LineFrame.self) == self.line("one"))
        #expect(try channel.readInbound(as: LineFrame.self) == self.line("two"))
        #expect(try channel.readInbound(as: LineFrame.self) == nil)
        #expect(try channel.finish().isClean == true)
    }

    @Test func tooLongInsideAChannel() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxLineBytes: 4)))
        try channel.writeInbound(ByteBuffer(string: "abcd\nabcdefgh"))
        try channel.writeInbound(ByteBuffer(string: "ignored\n"))
        #expect(try channel.readInbound(as: LineFrame.self) == self.line("abcd"))
        #expect(try channel.readInbound(as: LineFrame.self) == .tooLong)
        #expect(try channel.readInbound(as: LineFrame.self) == nil)
        _ = try channel.finish()
    }
}
