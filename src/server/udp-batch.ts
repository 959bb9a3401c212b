/**
 * The UDP listener over the native addon's UdpBatch (native/udp_batch.cc; util/native-addon.ts
 * loads the addon): the kernel hands over a batch of datagrams per call (recvmmsg), the handler
 * answers each, and the batch's replies leave in one call (sendmmsg). Same contract as udp.ts's
 * dgram listener: one datagram in, at most one out; replies that cannot leave are counted in
 * UdpSendErrors, never thrown.
 *
 * Given the shared table of fixed answers (NativeAnswering), the addon answers a batch's repeat
 * queries whose answers the table holds itself, before JavaScript sees the batch
 * (native/fixed_answers.h): those replies come first, and JavaScript only counts them, through
 * the handler, as it counts the answers it makes.
 */
import type { Logger } from 'pino';
import { bytesToIp } from '../net/ip.ts';
import { loadNativeAddon } from '../util/native-addon.ts';
import type { BatchAnswering } from './handler.ts';
import type { ListenAddress } from './listen-address.ts';
import type { UdpListener, UdpSendErrors } from './udp.ts';
import type { TableViews } from './shared-answers.ts';

/** Datagrams per call into JavaScript: enough to amortise the calls, a few hundred microseconds of work. */
const BATCH = 64;
/**
 * Each datagram's room: the largest UDP payload (65,507 bytes over IPv4, 65,527 over IPv6), so
 * that the kernel never cuts one and every query reaches the handler whole, as with dgram. The
 * pages a datagram does not touch are never made resident.
 */
const SLOT = 65_536;
/** Where a batch's replies are written before they leave; a reply that does not fit sends what is there first. */
const OUTPUT = 256 * 1024;
// The addon's layout (native/udp_batch.cc says it once more): per datagram 4 uint32 (length,
// port, family, flags), 16 address bytes, then for one the addon answered 4 uint32 (qtype, zone,
// rcode, response length); per reply 3 int32 (datagram, offset, length).
const RECEIVED_BYTES = 48;
const RECEIVED_INTS = RECEIVED_BYTES / 4;
const ADDRESS_AT = 16;
const ANSWERED_AT = 8;
const REPLY_INTS = 3;
const TRUNCATED = 1;
const ANSWERED = 2;
/** IPv4 client texts kept, so that a busy client's address is formatted once, not per query. */
const IPV4_TEXTS = 4096;

interface UdpBatchSocket {
  port(): number | null;
  /**
   * Sends replies 0..count-1 as laid out (those the kernel has no room for yet wait in the
   * addon's bounded queue); returns how many could not be sent, queued ones since the last call too.
   */
  send(count: number): number;
  /** One reply outside a batch (an answer that waited for an upstream), sent or queued; false when it could not be. */
  sendTo(bytes: Uint8Array, address: string, port: number): boolean;
  close(): void;
  /** Answers from the shared table from now on (NativeAnswering). */
  answerFrom(ways: Int32Array, arena: Uint8Array, control: Int32Array, seed: number): void;
}

/**
 * What the addon reads to answer from the shared table itself: the table, the serving thread's
 * control ([0] 1 while the active handler allows it, [1] the UDP size to advertise), and the
 * question keys' seed.
 */
export interface NativeAnswering {
  table: TableViews;
  control: Int32Array;
  seed: number;
}

interface UdpBatchOptions {
  family: 4 | 6;
  host: string;
  port: number;
  reusePort: boolean;
  input: Uint8Array;
  meta: Uint8Array;
  output: Uint8Array;
  replies: Uint8Array;
}

/** How serving threads move UDP datagrams: the addon's batches, or node:dgram (udp.ts). */
export type UdpIo = 'batch' | 'dgram';

/** The part of the addon that native/udp_batch.cc makes. */
export interface UdpBatchAddon {
  UdpBatch: new (options: UdpBatchOptions, onBatch: (count: number, answered: number, answeredBytes: number, nanosEach: number) => void) => UdpBatchSocket;
}

/** The addon's UdpBatch, or why this thread cannot have it. */
function loadUdpBatch(): UdpBatchAddon | Error {
  const addon = loadNativeAddon();
  return addon instanceof Error ? addon : (addon as unknown as UdpBatchAddon);
}

/**
 * The I/O the `io` setting asks for: the addon's when it loads (auto, batch), else dgram, with
 * why the addon could not be had (null when it was not asked for).
 */
export function availableUdpIo(setting: 'auto' | 'batch' | 'dgram'): { io: UdpIo; unavailable: string | null } {
  if (setting === 'dgram') return { io: 'dgram', unavailable: null };
  const addon = loadUdpBatch();
  if (addon instanceof Error) return { io: 'dgram', unavailable: addon.message.split('\n')[0] as string };
  return { io: 'batch', unavailable: null };
}

/** The addon, for a thread of a process that chose batch; throws when this thread cannot load it. */
export function batchAddon(): UdpBatchAddon {
  const addon = loadUdpBatch();
  if (addon instanceof Error) throw addon;
  return addon;
}

/** Formats source addresses; IPv4 ones from a small table, since a client sends many queries. */
class ClientTexts {
  private readonly ipv4 = new Map<number, string>();

  text(meta: Uint8Array, at: number, family: number): string {
    if (family === 6) return bytesToIp(meta.subarray(at, at + 16));
    // The address as one unsigned number (<< 24 would turn a first byte above 127 negative).
    const key = (meta[at] as number) * 0x1000000 + (((meta[at + 1] as number) << 16) | ((meta[at + 2] as number) << 8) | (meta[at + 3] as number));
    let text = this.ipv4.get(key);
    if (text === undefined) {
      // Cleared whole when full: a spread of sources costs one formatting each, as without the table.
      if (this.ipv4.size >= IPV4_TEXTS) this.ipv4.clear();
      text = `${meta[at]}.${meta[at + 1]}.${meta[at + 2]}.${meta[at + 3]}`;
      this.ipv4.set(key, text);
    }
    return text;
  }
}

/** Binds `address` through the addon; throws the bind's error (EADDRINUSE, EACCES…), as dgram's listener rejects with it. */
export function listenUdpBatch(addon: UdpBatchAddon, address: ListenAddress, handler: BatchAnswering, log: Logger, reusePort: boolean, errors: UdpSendErrors, native: NativeAnswering | null = null): UdpListener {
  const input = Buffer.alloc(BATCH * SLOT);
  const meta = Buffer.alloc(BATCH * RECEIVED_BYTES);
  const received = new Uint32Array(meta.buffer, meta.byteOffset, BATCH * RECEIVED_INTS);
  const output = Buffer.alloc(OUTPUT);
  const replyBytes = Buffer.alloc(BATCH * REPLY_INTS * 4);
  const replies = new Int32Array(replyBytes.buffer, replyBytes.byteOffset, BATCH * REPLY_INTS);
  const clients = new ClientTexts();
  let pending = 0;
  let used = 0;

  // Called once per batch even with nothing to send: send() also reports queued replies that failed since.
  const flush = (): void => {
    errors.failed += socket.send(pending);
    pending = 0;
    used = 0;
  };
  /** Queues a reply to datagram `index` of this batch. */
  const queue = (index: number, bytes: Buffer, client: string, port: number): void => {
    if (bytes.length > OUTPUT) return sendLater(bytes, client, port);
    if (used + bytes.length > OUTPUT) flush();
    bytes.copy(output, used);
    const at = pending * REPLY_INTS;
    replies[at] = index;
    replies[at + 1] = used;
    replies[at + 2] = bytes.length;
    pending++;
    used += bytes.length;
  };
  /** A reply after its batch: the datagram's slot and source are another's by now. */
  const sendLater = (bytes: Buffer, client: string, port: number): void => {
    if (!socket.sendTo(bytes, client, port)) errors.failed++;
  };

  const onBatch = (count: number, answered: number, answeredBytes: number, nanosEach: number): void => {
    // The addon's replies are laid out first; this batch's others follow them.
    pending = answered;
    used = answeredBytes;
    for (let index = 0; index < count; index++) {
      const at = index * RECEIVED_INTS;
      const flags = received[at + 3] as number;
      if (flags & ANSWERED) {
        const facts = at + ANSWERED_AT;
        handler.countNative(received[facts + 1] as number, received[at + 2] as number, received[facts] as number, received[at] as number, received[facts + 2] as number, received[facts + 3] as number, nanosEach / 1e9);
        continue;
      }
      // Cannot happen with SLOT above the largest UDP payload; a cut query would be answered for what it does not ask.
      if (flags & TRUNCATED) continue;
      const port = received[at + 1] as number;
      const client = clients.text(meta, index * RECEIVED_BYTES + ADDRESS_AT, received[at + 2] as number);
      // A copy: the slot is refilled by the next batch, and an answer that waits for an upstream still reads its query.
      const start = index * SLOT;
      const request = Buffer.allocUnsafe(received[at] as number);
      input.copy(request, 0, start, start + request.length);
      let response;
      try {
        response = handler.handle(request, 'udp', client);
      } catch (error) {
        // The handler catches its own errors; this is the last guard of the trust boundary.
        log.error({ err: error }, 'udp query handling failed');
        continue;
      }
      if (response === null) continue;
      if (port === 0) {
        // Only a raw socket sends from port 0, and no reply can go back to it.
        if (response instanceof Promise) void response.then((bytes) => bytes && errors.portZero++);
        else errors.portZero++;
        continue;
      }
      if (response instanceof Promise) {
        response.then(
          (bytes) => bytes && sendLater(bytes, client, port),
          (error: unknown) => log.error({ err: error }, 'udp query handling failed'),
        );
      } else queue(index, response, client, port);
    }
    flush();
  };

  const family = address.family === 'udp6' ? 6 : 4;
  const socket = new addon.UdpBatch({ family, host: address.host, port: address.port, reusePort, input, meta, output, replies: replyBytes }, onBatch);
  if (native !== null) socket.answerFrom(native.table.ways, native.table.arena, native.control, native.seed);
  return {
    port: socket.port() ?? address.port,
    close: () => socket.close(),
  };
}
