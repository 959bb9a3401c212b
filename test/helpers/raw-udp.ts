/**
 * UDP datagrams with a source no socket API allows, such as source port 0, for tests of what a
 * hostile pod can send. Node has no raw sockets, so python3 writes the UDP header itself through
 * a raw socket (root only): the kernel adds the IP header and delivers the datagram to lbdns like
 * any other.
 */
import { execFile } from 'node:child_process';

/** Reads the datagram's fields from argv, builds the UDP header (checksum included) and sends it. */
const SEND_RAW_UDP = String.raw`
import socket, struct, sys
family, source, source_port, destination, destination_port, payload, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), bytes.fromhex(sys.argv[6]), int(sys.argv[7])
af = socket.AF_INET6 if family == '6' else socket.AF_INET
length = 8 + len(payload)
if af == socket.AF_INET6:
    pseudo = socket.inet_pton(af, source) + socket.inet_pton(af, destination) + struct.pack('!IxxxB', length, socket.IPPROTO_UDP)
else:
    pseudo = socket.inet_pton(af, source) + socket.inet_pton(af, destination) + struct.pack('!xBH', socket.IPPROTO_UDP, length)
data = pseudo + struct.pack('!HHHH', source_port, destination_port, length, 0) + payload
if len(data) % 2:
    data += b'\0'
total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
while total >> 16:
    total = (total & 0xffff) + (total >> 16)
checksum = (~total & 0xffff) or 0xffff
raw = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_UDP)
raw.bind((source, 0))
datagram = struct.pack('!HHHH', source_port, destination_port, length, checksum) + payload
for _ in range(count):
    raw.sendto(datagram, (destination, 0))
`;

export interface RawDatagram {
  /** 127.0.0.1 or ::1 (both ends on one family). */
  from: string;
  sourcePort: number;
  to: string;
  port: number;
  payload: Buffer;
  /** How many copies to send (default 1). */
  count?: number;
}

/** Sends the datagram (`count` times) through a raw socket; rejects when python3 or the raw socket is unavailable. */
export function sendRawUdp(datagram: RawDatagram): Promise<void> {
  const family = datagram.to.includes(':') ? '6' : '4';
  const args = ['-c', SEND_RAW_UDP, family, datagram.from, String(datagram.sourcePort), datagram.to, String(datagram.port), datagram.payload.toString('hex'), String(datagram.count ?? 1)];
  return new Promise((resolve, reject) => {
    execFile('python3', args, { timeout: 10_000 }, (error, _stdout, stderr) => (error ? reject(new Error(`raw UDP send failed: ${error.message} ${stderr}`)) : resolve()));
  });
}
