/** The port probe before SO_REUSEPORT sharing, against ports real loopback sockets hold. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { listening } from '../../src/net/listening.ts';
import { ensureAddressesFree } from '../../src/server/port-probe.ts';

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));
const closeSocket = (socket: Socket) => new Promise<void>((resolve) => socket.close(() => resolve()));

function listenTcp(port: number): Promise<Server> {
  const server = createServer();
  return listening(server, (bound) => server.listen({ port, host: '127.0.0.1', exclusive: true }, bound), () => {});
}

describe('ensureAddressesFree', () => {
  it('passes free addresses and names the one a socket holds, UDP or TCP', async () => {
    const udp = createSocket('udp4');
    await listening(udp, (bound) => udp.bind(0, '127.0.0.1', bound), () => {});
    const tcp = await listenTcp(0);
    const udpPort = udp.address().port;
    const tcpPort = (tcp.address() as AddressInfo).port;
    const at = (port: number) => ({ host: '127.0.0.1', port, family: 'udp4' as const });
    await assert.rejects(ensureAddressesFree([{ udp: at(udpPort), tcp: at(0) }]), new RegExp(`127\\.0\\.0\\.1:${udpPort} \\(udp\\) is already held`));
    await assert.rejects(ensureAddressesFree([{ udp: at(0), tcp: at(tcpPort) }]), new RegExp(`127\\.0\\.0\\.1:${tcpPort} \\(tcp\\) is already held`));
    await Promise.all([closeSocket(udp), closeServer(tcp)]);
    await ensureAddressesFree([{ udp: at(udpPort), tcp: at(tcpPort) }]);
  });
});
