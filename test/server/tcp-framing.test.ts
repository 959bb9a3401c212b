/**
 * DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766): a table of byte streams cut into chunks as a
 * socket may deliver them → the messages FrameReader gives, each as soon as its last byte is in;
 * then the same through a real loopback socket to the connection server, in process.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { pino } from 'pino';
import { FrameReader, listenTcp, tcpAccounting } from '../../src/server/tcp.ts';

/** A message of `length` bytes, each its index's low byte offset by `seed`, so messages differ. */
const message = (length: number, seed = 0) => Buffer.from(Array.from({ length }, (_, i) => (i + seed) & 0xff));
const frame = (body: Buffer) => Buffer.concat([Buffer.from([body.length >> 8, body.length & 0xff]), body]);

/** How a stream is cut into chunks. */
type Cut = (stream: Buffer) => Buffer[];
const whole: Cut = (stream) => [stream];
const at =
  (...offsets: number[]): Cut =>
  (stream) =>
    [0, ...offsets, stream.length].slice(1).map((end, i, ends) => stream.subarray(i === 0 ? 0 : (ends[i - 1] as number), end));
const every =
  (size: number): Cut =>
  (stream) =>
    Array.from({ length: Math.ceil(stream.length / size) }, (_, i) => stream.subarray(i * size, (i + 1) * size));

interface Case {
  name: string;
  messages: Buffer[];
  cut: Cut;
  /** Bytes of a next frame that never completes. */
  tail?: Buffer;
}

const A = message(29, 1);
const B = message(45, 2);
const C = message(12, 3);

const cases: Case[] = [
  { name: 'one message in one chunk', messages: [A], cut: whole },
  { name: 'pipelined messages in one chunk', messages: [A, B, C], cut: whole },
  { name: 'the length prefix split after its first byte', messages: [A], cut: at(1) },
  { name: 'a message split across three chunks', messages: [A], cut: at(5, 17) },
  { name: 'a chunk that ends inside the next message’s length prefix', messages: [A, B], cut: at(2 + A.length + 1) },
  { name: 'a chunk that ends right after the next length prefix', messages: [A, B], cut: at(2 + A.length + 2) },
  { name: 'chunks that end exactly at message ends', messages: [A, B, C], cut: at(2 + A.length, 4 + A.length + B.length) },
  { name: 'a trickle of one byte at a time', messages: [A, B, C], cut: every(1) },
  { name: 'chunks of three bytes across message ends', messages: [A, B, C], cut: every(3) },
  { name: 'empty chunks in between', messages: [A, B], cut: (s) => [Buffer.alloc(0), s.subarray(0, 10), Buffer.alloc(0), s.subarray(10), Buffer.alloc(0)] },
  { name: 'an empty message (the listener closes on it; the reader still frames it)', messages: [Buffer.alloc(0), A], cut: every(1) },
  { name: 'the largest message, 65,535 bytes, in 4 KiB chunks', messages: [message(65_535, 7), C], cut: every(4096) },
  { name: 'a length prefix with its top bit set (a 32,768-byte message)', messages: [message(32_768, 9)], cut: every(1000) },
  { name: 'a message not yet complete gives nothing', messages: [A], cut: every(7), tail: frame(B).subarray(0, 20) },
  { name: 'a lone length byte gives nothing', messages: [], cut: whole, tail: Buffer.from([0]) },
];

describe('FrameReader: byte streams → messages', () => {
  for (const c of cases) {
    it(c.name, () => {
      const stream = Buffer.concat([...c.messages.map(frame), c.tail ?? Buffer.alloc(0)]);
      const chunks = c.cut(stream);
      assert.equal(Buffer.concat(chunks).length, stream.length, 'the cut keeps every byte');
      // Where each message's last byte is in the stream: it must come out with the chunk holding that byte.
      const ends: number[] = [];
      c.messages.reduce((offset, m) => (ends.push(offset + 2 + m.length), offset + 2 + m.length), 0);

      const reader = new FrameReader();
      const got: Buffer[] = [];
      let received = 0;
      for (const chunk of chunks) {
        reader.push(chunk);
        received += chunk.length;
        const out: Buffer[] = [];
        for (let next = reader.next(); next !== null; next = reader.next()) out.push(Buffer.from(next));
        const due = ends.filter((end) => end <= received).length - got.length;
        assert.equal(out.length, due, `after ${received} of ${stream.length} bytes`);
        got.push(...out);
      }
      assert.deepEqual(got, c.messages);
      assert.equal(reader.next(), null, 'nothing more');
    });
  }
});

describe('the TCP listener in process, over a loopback socket', () => {
  const log = pino({ level: 'silent' });
  const limits = { idleTimeoutMs: 10_000, maxConnections: 10, maxConnectionsPerClient: 10, ipv4PrefixLength: 24, ipv6PrefixLength: 56 };

  /** A handler that answers each message with its own bytes reversed, and a listener on a free port. */
  async function echoServer(): Promise<{ server: Server; port: number; seen: Buffer[]; accounting: ReturnType<typeof tcpAccounting> }> {
    const seen: Buffer[] = [];
    const accounting = tcpAccounting(limits);
    const handler = {
      handle: (request: Buffer) => {
        seen.push(Buffer.from(request));
        return Buffer.from(request).reverse();
      },
    };
    const server = await listenTcp({ host: '127.0.0.1', port: 0, family: 'udp4' }, handler, log, limits, false, accounting);
    return { server, port: (server.address() as { port: number }).port, seen, accounting };
  }

  /** Writes each chunk separately (Nagle off) and collects the framed replies until `count` or the close. */
  async function converse(port: number, chunks: Buffer[], count: number): Promise<{ replies: Buffer[]; closed: boolean }> {
    const socket: Socket = connect({ port, host: '127.0.0.1', noDelay: true });
    await once(socket, 'connect');
    const reader = new FrameReader();
    const replies: Buffer[] = [];
    const done = new Promise<boolean>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        reader.push(chunk);
        for (let next = reader.next(); next !== null; next = reader.next()) replies.push(Buffer.from(next));
        if (replies.length >= count) resolve(false);
      });
      socket.on('close', () => resolve(true));
      socket.on('error', () => resolve(true));
    });
    for (const chunk of chunks) {
      socket.write(chunk);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const closed = await done;
    socket.destroy();
    return { replies, closed };
  }

  it('answers pipelined messages trickled a byte at a time, each once, in order', async () => {
    const { server, port, seen } = await echoServer();
    try {
      const messages = [A, B, C];
      const { replies } = await converse(port, every(1)(Buffer.concat(messages.map(frame))), messages.length);
      assert.deepEqual(seen, messages);
      assert.deepEqual(replies, messages.map((m) => Buffer.from(m).reverse()));
    } finally {
      server.close();
    }
  });

  it('closes the connection at a message shorter than a DNS header, after answering the ones before', async () => {
    const { server, port, seen, accounting } = await echoServer();
    try {
      const { replies, closed } = await converse(port, [Buffer.concat([frame(A), frame(message(11)), frame(B)])], 2);
      assert.ok(closed, 'the server closed the connection');
      assert.deepEqual(seen, [A], 'nothing after the short message is read');
      assert.deepEqual(replies, [Buffer.from(A).reverse()]);
      assert.equal(accounting.closes.malformed, 1);
    } finally {
      server.close();
    }
  });
});
