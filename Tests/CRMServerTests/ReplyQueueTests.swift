import CRMServer
import Testing

@Suite("ReplyQueue")
struct ReplyQueueTests {
    private func reply(_ text: String) -> ReplyQueue.Reply {
        StartedReply { Array(text.utf8) }
    }

    @Test func readyAndAwaitedRepliesGiveTheirLines() async {
        #expect(await StartedReply.ready(Array("r".utf8)).value == Array("r".utf8))
        #expect(await StartedReply.ready(nil).value == nil)
        #expect(await StartedReply.awaited { Array("a".utf8) }.value == Array("a".utf8))
        #expect(await StartedReply { nil }.value == nil)
    }

    @Test func deliversInOrderAndEndsAfterFinish() async {
        let queue = ReplyQueue(capacity: 4)
        for text in ["a", "b", "c"] {
            #expect(await queue.waitForSpace())
            queue.push(self.reply(text))
        }
        queue.finish()
        var replies: [String] = []
        while let reply = await queue.next() {
            replies.append(String(decoding: await reply.value ?? [], as: UTF8.self))
            queue.markWritten(1)
        }
        #expect(replies == ["a", "b", "c"])
    }

    @Test func readerWaitsUntilAReplyIsWritten() async {
        let queue = ReplyQueue(capacity: 2)
        queue.push(self.reply("a"))
        queue.push(self.reply("b"))
        async let third: Bool = queue.waitForSpace()
        // The writer takes one reply; only writing it frees a place.
        let first = await queue.next()
        #expect(await first?.value == Array("a".utf8))
        queue.markWritten(1)
        #expect(await third)
    }

    @Test func writerWaitsForThePush() async {
        let queue = ReplyQueue(capacity: 2)
        async let next = queue.next()
        queue.push(self.reply("late"))
        #expect(await next?.value == Array("late".utf8))
    }

    @Test func cancelWakesBothSidesAndDropsPending() async {
        let queue = ReplyQueue(capacity: 1)
        queue.push(self.reply("a"))
        async let space: Bool = queue.waitForSpace()
        queue.cancel()
        #expect(await space == false)
        #expect(await queue.next() == nil)
        queue.push(self.reply("ignored"))
        #expect(await queue.next() == nil)
    }

    @Test func taskCancellationEndsAWaitingWriter() async {
        let queue = ReplyQueue(capacity: 1)
        let writer = Task { await queue.next() }
        writer.cancel()
        #expect(await writer.value == nil)
    }
}
