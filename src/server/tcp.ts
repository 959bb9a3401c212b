/**
 * The TCP listener (RFC 7766): 2-byte length-prefixed messages, pipelined queries answered in
 * order, idle connections closed.
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
}

function writeFrame(socket: Socket, response: Buffer): void {
  if (socket.destroyed) return;
  const frame = Buffer.allocUnsafe(2 + response.length);
  frame.writeUInt16BE(response.length, 0);
  response.copy(frame, 2);
  socket.write(frame);
}

export function serveConnection(socket: Socket, handler: Answering, limits: TcpLimits): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.setNoDelay(true);
  socket.setTimeout(limits.idleTimeoutMs, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0);
      if (pending.length < 2 + length) break;
      const request = pending.subarray(2, 2 + length);
      pending = pending.subarray(2 + length);
      const response = handler.handle(request, 'tcp', socket.remoteAddress ?? '');
      // Answers that wait for an upstream are written when they arrive (RFC 7766 allows any order).
      if (response instanceof Promise) void response.then((bytes) => bytes && writeFrame(socket, bytes));
      else if (response !== null) writeFrame(socket, response);
    }
  });
}

export function listenTcp(address: ListenAddress, handler: Answering, log: Logger, limits: TcpLimits = { idleTimeoutMs: 10_000 }): Promise<Server> {
  const server = createServer({ allowHalfOpen: false }, (socket) => serveConnection(socket, handler, limits));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: address.port, host: address.host, ipv6Only: address.family === 'udp6' }, () => {
      server.off('error', reject);
      server.on('error', (error) => log.warn({ err: error.message }, 'tcp listener error'));
      resolve(server);
    });
  });
}
