/**
 * Before serving threads share a port with SO_REUSEPORT, make sure nothing else holds it: the
 * kernel lets any socket of the same user that also asks for SO_REUSEPORT join the group, and
 * would hand it a share of the queries. Binding once without the option fails if any socket
 * holds the address, reusable or not.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { formatListenAddress } from './listen-address.ts';
import type { BoundListen } from './serving.ts';

function inUse(address: { host: string; port: number }, proto: string, error: Error): Error {
  const code = (error as NodeJS.ErrnoException).code ?? error.message;
  return new Error(`${formatListenAddress(address)} (${proto}) is already held by another socket (${code}); is another DNS server running?`);
}

function probeUdp(address: BoundListen['udp']): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: address.family, reuseAddr: false, ipv6Only: address.family === 'udp6' });
    socket.once('error', (error) => {
      socket.close();
      reject(inUse(address, 'udp', error));
    });
    socket.bind(address.port, address.host, () => socket.close(() => resolve()));
  });
}

function probeTcp(address: BoundListen['tcp']): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error) => reject(inUse(address, 'tcp', error)));
    server.listen({ port: address.port, host: address.host, ipv6Only: address.family === 'udp6', exclusive: true }, () => server.close(() => resolve()));
  });
}

/** Rejects, naming the address, if a socket already holds one of them. Port 0 is never held. */
export async function ensureAddressesFree(addresses: BoundListen[]): Promise<void> {
  for (const { udp, tcp } of addresses) {
    if (udp.port !== 0) await probeUdp(udp);
    if (tcp.port !== 0) await probeTcp(tcp);
  }
}
