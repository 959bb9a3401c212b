/**
 * Starting a listener: the promise resolves once it is bound, rejects with the bind's error (a
 * port already held), and errors after binding go to the caller's handler instead of throwing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { listening } from '../../src/net/listening.ts';

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));
const closeSocket = (socket: Socket) => new Promise<void>((resolve) => socket.close(() => resolve()));

function listenTcp(port: number, laterError: (error: Error) => void = () => {}): Promise<Server> {
  const server = createServer();
  return listening(server, (bound) => server.listen({ port, host: '127.0.0.1', exclusive: true }, bound), laterError);
}

describe('listening', () => {
  it('resolves with the listener once it is bound', async () => {
    const server = await listenTcp(0);
    assert.ok((server.address() as AddressInfo).port > 0);
    await closeServer(server);
  });

  it('rejects with the error that stopped the bind, for TCP and UDP', async () => {
    const holder = await listenTcp(0);
    const { port } = holder.address() as AddressInfo;
    await assert.rejects(listenTcp(port), { code: 'EADDRINUSE' });
    const udpHolder = createSocket('udp4');
    await listening(udpHolder, (bound) => udpHolder.bind(0, '127.0.0.1', bound), () => {});
    const udpPort = udpHolder.address().port;
    const second = createSocket({ type: 'udp4', reuseAddr: false });
    await assert.rejects(
      listening(second, (bound) => second.bind(udpPort, '127.0.0.1', bound), () => {}),
      { code: 'EADDRINUSE' },
    );
    await Promise.all([closeServer(holder), closeSocket(udpHolder)]);
  });

  it('hands errors after binding to the caller, and no longer to the promise', async () => {
    const later: Error[] = [];
    const server = await listenTcp(0, (error) => later.push(error));
    server.emit('error', new Error('after the bind'));
    assert.deepEqual(later.map((e) => e.message), ['after the bind']);
    assert.equal(server.listenerCount('error'), 1);
    await closeServer(server);
  });
});
