/**
 * Many datagrams to lbdns from one socket without losing any to a full socket buffer, for tests
 * that check every reply to a stream of hostile packets.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { buildQuery, decode } from './dns-client.ts';

const MARKER = 'pace-marker.default.svc.cluster.local';

function isMarkerReply(reply: Buffer): boolean {
  try {
    return decode(reply).questions?.[0]?.name === MARKER;
  } catch {
    return false;
  }
}

/**
 * Sends the packets from one socket, `batch` at a time, each batch followed by a marker query:
 * lbdns reads one socket's datagrams in order, so the marker's answer shows it has read the
 * batch. Paced so, no socket buffer overflows however loaded the machine is, and every packet
 * reaches lbdns. Resolves with the replies to the packets (markers left out).
 */
export async function pacedUdp(port: number, packets: Buffer[], batch = 50): Promise<Buffer[]> {
  const socket = createSocket('udp4');
  const replies: Buffer[] = [];
  let markerAnswered: (() => void) | null = null;
  socket.on('message', (m) => {
    if (isMarkerReply(m)) markerAnswered?.();
    else replies.push(m);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  try {
    for (let start = 0; start < packets.length; start += batch) {
      for (const packet of packets.slice(start, start + batch)) socket.send(packet, port, '127.0.0.1');
      let answered = false;
      for (let attempt = 0; attempt < 5 && !answered; attempt++) {
        answered = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 3000);
          markerAnswered = () => {
            clearTimeout(timer);
            resolve(true);
          };
          socket.send(buildQuery(MARKER, 'A'), port, '127.0.0.1');
        });
      }
      assert.ok(answered, `lbdns answered the marker after packet ${start + batch}`);
    }
  } finally {
    socket.close();
  }
  return replies;
}
