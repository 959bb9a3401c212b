/**
 * DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766): each message is preceded by its length as two
 * bytes, big-endian. Written once here for both ends: the TCP listener (server/tcp.ts) and the
 * upstream exchange (forward/exchange.ts).
 */

/** The longest message a two-byte length can frame. */
export const MAX_FRAME = 0xffff;

/** The message with its length in front, ready for one socket write. Throws over MAX_FRAME. */
export function frameMessage(message: Buffer): Buffer {
  if (message.length > MAX_FRAME) throw new RangeError(`a ${message.length}-byte message does not fit a TCP frame`);
  const frame = Buffer.allocUnsafe(2 + message.length);
  frame.writeUInt16BE(message.length, 0);
  message.copy(frame, 2);
  return frame;
}

/**
 * Splits a byte stream into length-prefixed messages. Chunks are joined once per message, when
 * it is complete: a message trickled a byte at a time costs its length, not its length squared.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete message, or null until more bytes arrive. */
  next(): Buffer | null {
    if (this.buffered < 2) return null;
    let head = this.chunks[0] as Buffer;
    if (head.length < 2) {
      head = Buffer.concat(this.chunks, this.buffered);
      this.chunks = [head];
    }
    const end = 2 + head.readUInt16BE(0);
    if (this.buffered < end) return null;
    const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks, this.buffered);
    const rest = all.subarray(end);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return all.subarray(2, end);
  }
}
