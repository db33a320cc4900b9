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
        #expect(queue.hasSpace())
        queue.push(self.reply("a"))
        queue.push(self.reply("b"))
        #expect(!queue.hasSpace())
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
        #expect(!queue.hasSpace(), "a cancelled queue has no space")
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

    @Test func aReadyReplyBypassesOnlyAWriterWaitingWithNothingBeforeIt() async {
        let queue = ReplyQueue(capacity: 3)
        #expect(!queue.bypass(), "no writer is waiting yet")
        let writer = Task { await queue.next() }
        // Once the writer waits, a ready reply may go straight on; it takes a place all the same.
        while !queue.bypass() { await Task.yield() }
        queue.push(self.reply("b"))
        #expect(await writer.value?.value == Array("b".utf8))
        // The writer is busy with "b": the next reply waits its turn, and so does the one after it.
        #expect(!queue.bypass())
        queue.push(self.reply("c"))
        #expect(!queue.bypass())
        // Three places taken (the bypassed reply, "b" and "c"): the reader waits until one is written.
        async let space: Bool = queue.waitForSpace()
        queue.markWritten(1)
        #expect(await space)
        #expect(await queue.next()?.value == Array("c".utf8))
        queue.finish()
        #expect(!queue.bypass(), "no replies after finish")
    }

    @Test func theNextReplyIsTakenAtOnceWhenItIsPending() async {
        let queue = ReplyQueue(capacity: 2)
        #expect(queue.nextNow().map { _ in true } == nil, "nothing pending: the writer would wait")
        queue.push(self.reply("a"))
        let first = queue.nextNow()
        #expect(await first??.value == Array("a".utf8))
        queue.finish()
        let end = queue.nextNow()
        #expect(end.map { $0 == nil } == true, "finished and drained: no more replies")
    }
}
