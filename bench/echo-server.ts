/**
 * The ceiling of Node's UDP path, for comparison: a bare node:dgram server that answers every
 * query with its own header and question plus one precomputed A record. No parsing beyond the
 * question's end, no lookup, no allocation but the reply. Usage: node bench/echo-server.ts PORT
 */
import { createSocket } from 'node:dgram';

const port = Number(process.argv[2] ?? 15390);
// NAME pointer to the question, TYPE A, CLASS IN, TTL 5, RDLENGTH 4, 10.96.0.20.
const record = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 96, 0, 20]);
// Replies go to the IP a datagram came from: skip dns.lookup, as lbdns's own UDP listener does,
// so the ceiling is the fastest send Node offers.
const socket = createSocket({ type: 'udp4', lookup: (ip, _options, callback) => callback(null, ip, 4) });
socket.on('message', (query, peer) => {
  let end = 12;
  while (end < query.length && query[end] !== 0) end += (query[end] as number) + 1;
  end += 5;
  if (end > query.length) return;
  const reply = Buffer.allocUnsafe(end + record.length);
  query.copy(reply, 0, 0, end);
  reply[2] = (query[2] as number) | 0x84;
  reply.writeUInt16BE(1, 6);
  reply.writeUInt32BE(0, 8);
  record.copy(reply, end);
  socket.send(reply, peer.port, peer.address);
});
socket.bind(port, '127.0.0.1');
