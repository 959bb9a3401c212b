/**
 * Before serving threads share a port with SO_REUSEPORT, make sure nothing else holds it: the
 * kernel lets any socket of the same user that also asks for SO_REUSEPORT join the group, and
 * would hand it a share of the queries. Binding once without the option fails if any socket
 * holds the address, reusable or not.
 */
import { Socket, createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import type { HostPort } from '../net/host-port.ts';
import { listening } from '../net/listening.ts';
import { formatListenAddress } from './listen-address.ts';
import type { BoundListen } from './serving.ts';

function inUse(address: HostPort, proto: string, error: Error): Error {
  const code = (error as NodeJS.ErrnoException).code ?? error.message;
  return new Error(`${formatListenAddress(address)} (${proto}) is already held by another socket (${code}); is another DNS server running?`);
}

/** Binds without sharing, then lets go; rejects naming the address if the bind fails. */
async function probe(listener: Socket | Server, proto: 'udp' | 'tcp', address: HostPort, bind: (bound: () => void) => void): Promise<void> {
  try {
    await listening(listener, bind, () => {});
  } catch (error) {
    if (listener instanceof Socket) listener.close();
    throw inUse(address, proto, error as Error);
  }
  await new Promise<void>((resolve) => listener.close(() => resolve()));
}

function probeUdp(address: BoundListen['udp']): Promise<void> {
  const socket = createSocket({ type: address.family, reuseAddr: false, ipv6Only: address.family === 'udp6' });
  return probe(socket, 'udp', address, (bound) => socket.bind(address.port, address.host, bound));
}

function probeTcp(address: BoundListen['tcp']): Promise<void> {
  const server = createServer();
  return probe(server, 'tcp', address, (bound) => server.listen({ port: address.port, host: address.host, ipv6Only: address.family === 'udp6', exclusive: true }, bound));
}

/** Rejects, naming the address, if a socket already holds one of them. Port 0 is never held. */
export async function ensureAddressesFree(addresses: BoundListen[]): Promise<void> {
  for (const { udp, tcp } of addresses) {
    if (udp.port !== 0) await probeUdp(udp);
    if (tcp.port !== 0) await probeTcp(tcp);
  }
}
