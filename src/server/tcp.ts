/**
 * The TCP listener (RFC 7766): 2-byte length-prefixed messages, pipelined queries answered as
 * they are ready. Limits keep clients from holding resources: connection slots per client prefix
 * and in total (a newcomer from a quieter prefix takes the slot of the busiest prefix's quietest
 * connection, see tcp-slots.ts), a connection must complete a message every idleTimeoutMs (bytes
 * trickled one at a time do not count), must send messages that can be DNS, and must read its
 * answers.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ListenAddress } from './listen-address.ts';
import type { Answering } from './handler.ts';
import { clientPrefixKey } from '../net/cidr.ts';
import { listening } from '../net/listening.ts';
import { HEADER_SIZE } from '../wire/constants.ts';
import { FrameReader, MAX_FRAME, frameMessage } from '../wire/tcp-framing.ts';
import { ConnectionSlots } from './tcp-slots.ts';

/** The framing is wire/'s; re-exported for the listener's tests. */
export { FrameReader };

export interface TcpLimits {
  /** Milliseconds without a complete message before the connection is closed. */
  idleTimeoutMs: number;
  maxConnections: number;
  /** Per client prefix. */
  maxConnectionsPerClient: number;
  ipv4PrefixLength: number;
  ipv6PrefixLength: number;
}

/** Connections lbdns refused or closed, by reason; counted per serving thread. */
export interface TcpCloses {
  /** Refused: the client's prefix holds maxConnectionsPerClient. */
  prefixFull: number;
  /** Refused: every slot taken, and the client's prefix is the busiest. */
  serverFull: number;
  /** Closed to make room for a client from a quieter prefix. */
  evicted: number;
  /** No complete message for idleTimeoutMs. */
  idle: number;
  /** A message shorter than a DNS header, or a callback that failed. */
  malformed: number;
  /** The client did not read its answers. */
  unread: number;
}

export function noTcpCloses(): TcpCloses {
  return { prefixFull: 0, serverFull: 0, evicted: 0, idle: 0, malformed: 0, unread: 0 };
}

/** Unread answers a connection may pile up before it is dropped. */
const MAX_UNREAD_BYTES = 1 << 20;

function writeFrame(socket: Socket, response: Buffer, closes: TcpCloses): void {
  if (socket.destroyed || !socket.writable || response.length > MAX_FRAME) return;
  if (socket.writableLength > MAX_UNREAD_BYTES) {
    closes.unread++;
    socket.destroy();
    return;
  }
  socket.write(frameMessage(response));
}

export interface ConnectionHooks {
  closes: TcpCloses;
  log: Logger;
  /** A message arrived: the connection is active. */
  onMessage?: () => void;
}

export function serveConnection(socket: Socket, handler: Answering, limits: Pick<TcpLimits, 'idleTimeoutMs'>, hooks: ConnectionHooks): void {
  const { closes, log } = hooks;
  const frames = new FrameReader();
  const client = socket.remoteAddress ?? '';
  socket.setNoDelay(true);
  const idle = setTimeout(() => {
    closes.idle++;
    socket.destroy();
  }, limits.idleTimeoutMs);
  socket.on('close', () => clearTimeout(idle));
  socket.on('error', () => socket.destroy());
  const write = (bytes: Buffer | null): void => {
    if (bytes) writeFrame(socket, bytes, closes);
  };
  const failed = (error: unknown): void => {
    log.error({ err: error }, 'tcp query handling failed');
  };
  socket.on('data', (chunk: Buffer) => {
    try {
      frames.push(chunk);
      for (let request = frames.next(); request !== null && !socket.destroyed; request = frames.next()) {
        // No answer can be sent to a message without a header (an empty frame above all), and it
        // must not count as activity: a connection that sends them is closed.
        if (request.length < HEADER_SIZE) {
          closes.malformed++;
          socket.destroy();
          return;
        }
        idle.refresh();
        hooks.onMessage?.();
        const response = handler.handle(request, 'tcp', client);
        // Answers that wait for an upstream are written when they arrive (RFC 7766 allows any order).
        if (response instanceof Promise) response.then(write, failed);
        else write(response);
      }
    } catch (error) {
      // The handler catches its own errors; this is the last guard of the trust boundary.
      failed(error);
      closes.malformed++;
      socket.destroy();
    }
  });
}

/**
 * The connection slots and counters of one serving thread, shared by its TCP listeners (the
 * caps are per thread, whatever the number of listen addresses).
 */
export interface TcpAccounting {
  slots: ConnectionSlots;
  closes: TcpCloses;
}

export function tcpAccounting(limits: TcpLimits): TcpAccounting {
  return { slots: new ConnectionSlots(limits), closes: noTcpCloses() };
}

export function listenTcp(address: ListenAddress, handler: Answering, log: Logger, limits: TcpLimits, reusePort = false, accounting = tcpAccounting(limits)): Promise<Server> {
  const { slots, closes } = accounting;
  const server = createServer({ allowHalfOpen: false }, (socket) => {
    try {
      // A connection reset before it was accepted has no address left: nothing to serve.
      if (socket.remoteAddress === undefined) {
        socket.destroy();
        return;
      }
      const slot = slots.admit(clientPrefixKey(socket.remoteAddress, limits.ipv4PrefixLength, limits.ipv6PrefixLength), () => {
        closes.evicted++;
        socket.destroy();
      });
      if (slot === 'prefix_full' || slot === 'server_full') {
        if (slot === 'prefix_full') closes.prefixFull++;
        else closes.serverFull++;
        socket.destroy();
        return;
      }
      socket.on('close', () => slots.release(slot));
      serveConnection(socket, handler, limits, { closes, log, onMessage: () => slots.touch(slot) });
    } catch (error) {
      log.error({ err: error }, 'tcp connection setup failed');
      socket.destroy();
    }
  });
  return listening(
    server,
    (bound) => server.listen({ port: address.port, host: address.host, ipv6Only: address.family === 'udp6', reusePort }, bound),
    (error) => log.warn({ err: error.message }, 'tcp listener error'),
  );
}
