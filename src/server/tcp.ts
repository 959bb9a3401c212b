/**
 * The TCP listener (RFC 7766): 2-byte length-prefixed messages, pipelined queries answered as
 * they are ready. Limits keep a client from holding resources: connections in total and per
 * client address, and a connection must complete a message every idleTimeoutMs (bytes trickled
 * one at a time do not count), and must read its answers.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ListenAddress } from './listen-address.ts';
import type { QueryHandler } from './handler.ts';

/** Whatever answers queries: the current handler, swapped on a settings reload. */
type Answering = Pick<QueryHandler, 'handle'>;

export interface TcpLimits {
  /** Milliseconds without a complete message before the connection is closed. */
  idleTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerClient: number;
}

/** Unread answers a connection may pile up before it is dropped. */
const MAX_UNREAD_BYTES = 1 << 20;

function writeFrame(socket: Socket, response: Buffer): void {
  if (socket.destroyed) return;
  if (socket.writableLength > MAX_UNREAD_BYTES) {
    socket.destroy();
    return;
  }
  const frame = Buffer.allocUnsafe(2 + response.length);
  frame.writeUInt16BE(response.length, 0);
  response.copy(frame, 2);
  socket.write(frame);
}

export function serveConnection(socket: Socket, handler: Answering, limits: TcpLimits): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.setNoDelay(true);
  let idle = setTimeout(() => socket.destroy(), limits.idleTimeoutMs);
  socket.on('close', () => clearTimeout(idle));
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0);
      if (pending.length < 2 + length) break;
      const request = pending.subarray(2, 2 + length);
      pending = pending.subarray(2 + length);
      clearTimeout(idle);
      idle = setTimeout(() => socket.destroy(), limits.idleTimeoutMs);
      const response = handler.handle(request, 'tcp', socket.remoteAddress ?? '');
      // Answers that wait for an upstream are written when they arrive (RFC 7766 allows any order).
      if (response instanceof Promise) void response.then((bytes) => bytes && writeFrame(socket, bytes));
      else if (response !== null) writeFrame(socket, response);
    }
  });
}

export function listenTcp(address: ListenAddress, handler: Answering, log: Logger, limits: TcpLimits, reusePort = false): Promise<Server> {
  const perClient = new Map<string, number>();
  const server = createServer({ allowHalfOpen: false }, (socket) => {
    const client = socket.remoteAddress ?? '';
    const open = perClient.get(client) ?? 0;
    if (open >= limits.maxConnectionsPerClient) {
      socket.destroy();
      return;
    }
    perClient.set(client, open + 1);
    socket.on('close', () => {
      const left = (perClient.get(client) ?? 1) - 1;
      if (left > 0) perClient.set(client, left);
      else perClient.delete(client);
    });
    serveConnection(socket, handler, limits);
  });
  server.maxConnections = limits.maxConnections;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: address.port, host: address.host, ipv6Only: address.family === 'udp6', reusePort }, () => {
      server.off('error', reject);
      server.on('error', (error) => log.warn({ err: error.message }, 'tcp listener error'));
      resolve(server);
    });
  });
}
