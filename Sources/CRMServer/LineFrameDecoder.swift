import NIOCore

/// One unit of the control protocol's inbound framing, as cut by ``LineFrameDecoder``.
package enum LineFrame: Sendable, Hashable {
    /// A complete, non-empty line without its `\n` (or `\r\n`) terminator.
    case line([UInt8])

    /// A line exceeded the configured limit. It is the last frame of the connection: the decoder
    /// discards every byte that follows it.
    case tooLong
}

/// Splits a byte stream into ``LineFrame``s on `\n`, with a hard cap on the length of a line.
///
/// Rules, in the spirit of NIOExtras' `LineBasedFrameDecoder` but bounded:
/// - A line ends at `\n`; one `\r` just before it is part of the terminator and is stripped.
/// - Empty lines (`\n` or `\r\n` alone) produce no frame.
/// - A line whose content (terminator excluded) is longer than `maxLineBytes` produces one
///   ``LineFrame/tooLong``, as does a partial line that has grown past the limit before its `\n`
///   arrived, so the buffer never holds much more than the limit. After that the decoder swallows
///   all further input: the owner is expected to reply and close the connection.
/// - At end of input, bytes after the last `\n` are discarded: every request must be terminated.
package struct LineFrameDecoder: ByteToMessageDecoder {
    package typealias InboundOut = LineFrame

    /// The longest accepted line, in bytes, without its terminator.
    package let maxLineBytes: Int

    /// How many readable bytes, counted from the reader index, are known to contain no `\n`, so a
    /// long line arriving in many reads is scanned once rather than once per read.
    private var scannedBytes = 0

    /// Set once ``LineFrame/tooLong`` has been emitted.
    private var overflowed = false

    /// Creates a decoder that accepts lines of up to `maxLineBytes` bytes.
    package init(maxLineBytes: Int) {
        precondition(maxLineBytes > 0, "maxLineBytes must be positive")
        self.maxLineBytes = maxLineBytes
    }

    package mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = self.nextFrame(from: &buffer) else {
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    package mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while let frame = self.nextFrame(from: &buffer) {
            context.fireChannelRead(Self.wrapInboundOut(frame))
        }
        // An unterminated partial line at the end of the input is not a request.
        buffer.moveReaderIndex(to: buffer.writerIndex)
        self.scannedBytes = 0
        return .needMoreData
    }

    /// Cuts the next frame out of `buffer`, or returns `nil` when more bytes are needed.
    ///
    /// Empty lines are consumed silently, so a `nil` result always means "wait for more input".
    /// Kept separate from the `ChannelHandlerContext` plumbing so it can be tested directly.
    package mutating func nextFrame(from buffer: inout ByteBuffer) -> LineFrame? {
        while true {
            if self.overflowed {
                buffer.moveReaderIndex(to: buffer.writerIndex)
                return nil
            }
            let view = buffer.readableBytesView
            let searchStart = view.startIndex + self.scannedBytes
            guard let newline = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) else {
                self.scannedBytes = view.count
                // `maxLineBytes + 1`: a trailing `\r` may yet turn out to belong to the terminator.
                if view.count > self.maxLineBytes + 1 {
                    return self.overflow(&buffer)
                }
                return nil
            }
            self.scannedBytes = 0
            var contentEnd = newline
            if contentEnd > view.startIndex && view[contentEnd - 1] == UInt8(ascii: "\r") {
                contentEnd -= 1
            }
            let length = contentEnd - view.startIndex
            if length > self.maxLineBytes {
                return self.overflow(&buffer)
            }
            if length == 0 {
                buffer.moveReaderIndex(forwardBy: newline + 1 - view.startIndex)
                continue
            }
            // `readBytes` cannot fail: `length` readable bytes precede the newline.
            let line = buffer.readBytes(length: length) ?? []
            buffer.moveReaderIndex(forwardBy: newline + 1 - contentEnd)
            return .line(line)
        }
    }

    private mutating func overflow(_ buffer: inout ByteBuffer) -> LineFrame {
        self.overflowed = true
        self.scannedBytes = 0
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .tooLong
    }
}
