/**
 * A DNS client independent of lbdns's own wire code: dns-packet encodes and decodes, node:dgram
 * and node:net carry the bytes.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { randomInt } from 'node:crypto';
import * as dnsPacket from 'dns-packet';

/** A decoded message as dns-packet returns it (its own typings leave out the flags and rcode). */
export interface DnsRecord {
  type: string;
  name: string;
  ttl?: number;
  data?: unknown;
  [field: string]: unknown;
}
export interface Packet {
  id: number;
  rcode?: string;
  flag_aa: boolean;
  flag_tc: boolean;
  flag_rd: boolean;
  flag_ra: boolean;
  questions?: Array<{ name: string; type: string }>;
  answers?: DnsRecord[];
  authorities?: DnsRecord[];
  additionals?: DnsRecord[];
}

export function decode(bytes: Buffer): Packet {
  return dnsPacket.decode(bytes) as unknown as Packet;
}

export interface QueryOptions {
  /** EDNS UDP payload size; undefined sends no OPT record. */
  udpSize?: number;
  dnssecOk?: boolean;
  /** EDNS options (RFC 6891 §6.1.2) in the OPT record, as code and raw data; needs udpSize. */
  ednsOptions?: Array<{ code: number; data: Buffer }>;
  recursionDesired?: boolean;
  timeoutMs?: number;
}

export function buildQuery(name: string, type: string, options: QueryOptions = {}): Buffer {
  const packet: dnsPacket.Packet = {
    type: 'query',
    id: randomInt(0, 65536),
    flags: options.recursionDesired === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ type: type as dnsPacket.RecordType, name, class: 'IN' }],
  };
  if (options.udpSize !== undefined) {
    packet.additionals = [{ type: 'OPT', name: '.', udpPayloadSize: options.udpSize, flags: options.dnssecOk ? dnsPacket.DNSSEC_OK : 0, options: options.ednsOptions ?? [] } as unknown as dnsPacket.Answer];
  }
  return dnsPacket.encode(packet);
}

/**
 * Sends raw bytes over UDP and resolves with the raw reply, or null after the timeout. `from`
 * binds the client to a source address (any 127.x.y.z works on Linux), to act as many clients.
 */
export function udpExchange(port: number, request: Buffer, timeoutMs = 2000, host = '127.0.0.1', from?: string): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    if (from) socket.bind(0, from);
    const timer = setTimeout(() => {
      socket.close();
      resolve(null);
    }, timeoutMs);
    socket.on('message', (reply) => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    });
    socket.send(request, port, host);
  });
}

/**
 * Sends raw bytes as length-prefixed TCP messages; resolves with every reply received before the
 * peer is quiet. `from`: the client's source address, as for udpExchange.
 */
export function tcpExchange(port: number, requests: Buffer[], timeoutMs = 3000, host = '127.0.0.1', from?: string): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host, localAddress: from });
    const replies: Buffer[] = [];
    let pending = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(replies);
    }, timeoutMs);
    socket.on('connect', () => {
      socket.write(Buffer.concat(requests.map((r) => Buffer.concat([Buffer.from([r.length >> 8, r.length & 0xff]), r]))));
    });
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        replies.push(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
      }
      if (replies.length === requests.length) {
        clearTimeout(timer);
        socket.end();
        resolve(replies);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

export async function query(port: number, name: string, type: string, options: QueryOptions & { from?: string } = {}): Promise<Packet> {
  const reply = await udpExchange(port, buildQuery(name, type, options), options.timeoutMs, '127.0.0.1', options.from);
  if (reply === null) throw new Error(`no reply for ${name} ${type}`);
  return decode(reply);
}

export async function queryTcp(port: number, name: string, type: string, options: QueryOptions & { from?: string } = {}): Promise<Packet> {
  const [reply] = await tcpExchange(port, [buildQuery(name, type, options)], options.timeoutMs, '127.0.0.1', options.from);
  if (!reply) throw new Error(`no TCP reply for ${name} ${type}`);
  return decode(reply);
}

export function rcodeOf(packet: Packet): string {
  return packet.rcode ?? 'NOERROR';
}

/** `data` of every answer record of `type`, as strings or objects. */
export function answerData(packet: Packet, type?: string): unknown[] {
  return (packet.answers ?? []).filter((a) => type === undefined || a.type === type).map((a) => a.data);
}

/** The EDNS options of a response's OPT record, as code and raw data; null when it has no OPT record. */
export function ednsOptionsOf(packet: Packet): Array<{ code: number; data: Buffer }> | null {
  const opt = (packet.additionals ?? []).find((record) => record.type === 'OPT');
  if (!opt) return null;
  return ((opt.options ?? []) as Array<{ code: number; data: Buffer }>).map(({ code, data }) => ({ code, data: Buffer.from(data) }));
}

export { dnsPacket };
