/**
 * A programmable upstream DNS server on loopback (UDP and TCP) for forwarding tests: it records
 * every query and answers as the test says, late, never, or with spoofed packets.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { freePort } from './lbdns-process.ts';

export interface SeenQuery {
  id: number;
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
  at: number;
}

/** What to send back: packets (in order, each after its delay), or nothing. */
export type StubReply = Array<{ bytes: Buffer; delayMs?: number }>;
export type StubHandler = (query: dnsPacket.DecodedPacket, transport: 'udp' | 'tcp', raw: Buffer) => StubReply;

export function reply(query: dnsPacket.DecodedPacket, fields: Partial<dnsPacket.Packet> & { rcode?: string }): Buffer {
  const { rcode, ...rest } = fields;
  const flags = dnsPacket.AUTHORITATIVE_ANSWER | (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE;
  const packet = { type: 'response', id: query.id, flags, questions: query.questions, answers: [], authorities: [], additionals: [], ...rest } as dnsPacket.Packet;
  const bytes = dnsPacket.encode(packet);
  if (rcode) bytes.writeUInt16BE((bytes.readUInt16BE(2) & ~0xf) | (({ NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 }) as Record<string, number>)[rcode]!, 2);
  return bytes;
}

export class StubUpstream {
  readonly port: number;
  readonly queries: SeenQuery[] = [];
  handler: StubHandler;
  private readonly udp: Socket;
  private readonly tcp: Server;

  private constructor(port: number, handler: StubHandler, udp: Socket, tcp: Server) {
    this.port = port;
    this.handler = handler;
    this.udp = udp;
    this.tcp = tcp;
  }

  static async start(handler: StubHandler): Promise<StubUpstream> {
    const port = await freePort();
    const udp = createSocket('udp4');
    const tcp = createServer();
    const stub = new StubUpstream(port, handler, udp, tcp);
    udp.on('message', (raw, peer) => stub.respond(raw, 'udp', (bytes) => udp.send(bytes, peer.port, peer.address)));
    tcp.on('connection', (socket) => {
      let pending = Buffer.alloc(0);
      socket.on('error', () => socket.destroy());
      socket.on('data', (chunk) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
          const raw = pending.subarray(2, 2 + pending.readUInt16BE(0));
          pending = pending.subarray(2 + raw.length);
          stub.respond(Buffer.from(raw), 'tcp', (bytes) => socket.write(Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes])));
        }
      });
    });
    await new Promise<void>((resolve) => udp.bind(port, '127.0.0.1', () => resolve()));
    await new Promise<void>((resolve) => tcp.listen(port, '127.0.0.1', () => resolve()));
    return stub;
  }

  private respond(raw: Buffer, transport: 'udp' | 'tcp', send: (bytes: Buffer) => void): void {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(raw);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    this.queries.push({ id: query.id ?? 0, name: question?.name ?? '', type: question?.type ?? '', transport, at: Date.now() });
    for (const { bytes, delayMs } of this.handler(query, transport, raw)) {
      if (delayMs) setTimeout(() => send(bytes), delayMs).unref();
      else send(bytes);
    }
  }

  count(name?: string): number {
    return this.queries.filter((q) => name === undefined || q.name === name).length;
  }

  async close(): Promise<void> {
    this.udp.close();
    await new Promise((resolve) => this.tcp.close(resolve));
  }
}

/** An upstream that answers every query REFUSED at once. */
export function refusing(): Promise<StubUpstream> {
  return StubUpstream.start((query) => [{ bytes: reply(query, { rcode: 'REFUSED' }) }]);
}
