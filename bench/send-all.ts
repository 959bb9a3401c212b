/** Sending a list of names to lbdns once each, as fast as it answers: what fills its caches in the benches. */
import { createSocket } from 'node:dgram';
import { buildQuery } from '../test/helpers/dns-client.ts';

/**
 * Sends every name once over UDP from `sockets` source ports (so SO_REUSEPORT spreads them over
 * the serving threads), at most `window` in flight per socket; a lost reply costs 1 s, not a stall.
 */
export async function sendAll(port: number, names: Array<[string, string]>, sockets = 16, window = 64): Promise<void> {
  const perSocket = Math.ceil(names.length / sockets);
  await Promise.all(
    Array.from({ length: sockets }, async (_, s) => {
      const socket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
      const mine = names.slice(s * perSocket, (s + 1) * perSocket);
      for (let start = 0; start < mine.length; start += window) {
        const batch = mine.slice(start, start + window);
        await new Promise<void>((resolve) => {
          let left = batch.length;
          const timer = setTimeout(() => finish(), 1000);
          const finish = () => {
            clearTimeout(timer);
            socket.off('message', onMessage);
            resolve();
          };
          const onMessage = () => {
            if (--left === 0) finish();
          };
          socket.on('message', onMessage);
          for (const [name, type] of batch) socket.send(buildQuery(name, type), port, '127.0.0.1');
        });
      }
      socket.close();
    }),
  );
}
