/** The UDP listener: one datagram in, at most one datagram out. */
import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from 'pino';
import type { ListenAddress } from './listen-address.ts';
import type { QueryHandler } from './handler.ts';

/** Whatever answers queries: the current handler, swapped on a settings reload. */
type Answering = Pick<QueryHandler, 'handle'>;

/** `reusePort`: serving threads each bind a socket to the port; the kernel spreads datagrams by source. */
export function listenUdp(address: ListenAddress, handler: Answering, log: Logger, reusePort = false): Promise<Socket> {
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
    const response = handler.handle(request, 'udp', peer.address);
    if (response instanceof Promise) {
      void response.then((bytes) => {
        if (bytes) socket.send(bytes, peer.port, peer.address);
      });
    } else if (response) socket.send(response, peer.port, peer.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(address.port, address.host, () => {
      socket.off('error', reject);
      // After binding, errors are per datagram (e.g. ICMP unreachable): log, keep serving.
      socket.on('error', (error) => log.warn({ err: error.message }, 'udp socket error'));
      resolve(socket);
    });
  });
}
