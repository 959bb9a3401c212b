/**
 * The UDP listener through node:dgram: one datagram in, at most one datagram out. The batched
 * listener (udp-batch.ts) keeps the same contract and counts its failed sends here too.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Logger } from 'pino';
import type { ListenAddress } from './listen-address.ts';
import type { Answering } from './handler.ts';
import { listening } from '../net/listening.ts';

/** Replies that could not leave, by reason; counted, never thrown, never logged one by one. */
export interface UdpSendErrors {
  /** The datagram came from source port 0, which no reply can be sent to (only a raw socket sends it). */
  portZero: number;
  /** The kernel or Node refused the send (no buffer space, a route, an address Node will not take). */
  failed: number;
}

/** A bound UDP listener, whichever I/O it uses. */
export interface UdpListener {
  /** The port bound (the kernel's choice when 0 was asked). */
  readonly port: number;
  close(): void;
}

export function noUdpSendErrors(): UdpSendErrors {
  return { portZero: 0, failed: 0 };
}

/**
 * Sends one reply, never throwing: a client chooses its source address and port, and a reply to
 * one it forged must not take the serving thread down (socket.send throws on port 0).
 */
function sendReply(socket: Socket, bytes: Buffer, peer: RemoteInfo, errors: UdpSendErrors): void {
  if (peer.port === 0) {
    errors.portZero++;
    return;
  }
  try {
    socket.send(bytes, peer.port, peer.address);
  } catch {
    errors.failed++;
  }
}

/** `reusePort`: serving threads each bind a socket to the port; the kernel spreads datagrams by source. */
export function listenUdp(address: ListenAddress, handler: Answering, log: Logger, reusePort = false, errors: UdpSendErrors = noUdpSendErrors()): Promise<UdpListener> {
  // ipv6Only: a [::] socket must not claim IPv4 too, so 0.0.0.0 and [::] can both be listened on.
  const family = address.family === 'udp6' ? 6 : 4;
  const socket = createSocket({
    type: address.family,
    reuseAddr: false,
    reusePort,
    ipv6Only: family === 6,
    // Replies go to the address a datagram came from, always an IP: without this, every send
    // runs dns.lookup's IP check and waits a process.nextTick before the datagram leaves.
    lookup: (ip, _options, callback) => callback(null, ip, family),
  });
  socket.on('message', (request, peer) => {
    let response;
    try {
      response = handler.handle(request, 'udp', peer.address);
    } catch (error) {
      // The handler catches its own errors; this is the last guard of the trust boundary.
      log.error({ err: error }, 'udp query handling failed');
      return;
    }
    if (response instanceof Promise) {
      response.then(
        (bytes) => bytes && sendReply(socket, bytes, peer, errors),
        (error: unknown) => log.error({ err: error }, 'udp query handling failed'),
      );
    } else if (response) sendReply(socket, response, peer, errors);
  });
  // After binding, errors are those of sends that failed in the kernel: a client can cause them
  // at will, so they are counted, and logged only at debug level.
  return listening(
    socket,
    (bound) => socket.bind(address.port, address.host, bound),
    (error) => {
      errors.failed++;
      log.debug({ err: error.message }, 'udp send failed');
    },
  ).then(() => ({ port: socket.address().port, close: () => socket.close() }));
}
