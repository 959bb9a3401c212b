/** Resource record encoders: each returns one complete, position-independent record. */
import { CLASS_IN, RRType } from './constants.ts';
import { ipv4ToBytes, ipv6ToBytes } from '../net/ip.ts';
import { keptBuffer } from '../util/kept-bytes.ts';

/**
 * A record lives as long as the cached answer it is in, when that answer is ordered per response;
 * so its bytes are out of Node's pool (util/kept-bytes.ts). A fixed answer's records are joined
 * into one copy and dropped: a little garbage in those slabs, once per answer built.
 */
export function encodeRecord(owner: Buffer, type: number, ttl: number, rdata: Buffer): Buffer {
  const out = keptBuffer(owner.length + 10 + rdata.length);
  owner.copy(out, 0);
  let at = owner.length;
  out.writeUInt16BE(type, at);
  out.writeUInt16BE(CLASS_IN, at + 2);
  out.writeUInt32BE(ttl >>> 0, at + 4);
  out.writeUInt16BE(rdata.length, at + 8);
  rdata.copy(out, at + 10);
  return out;
}

export const rdata = {
  a: (address: string): Buffer => ipv4ToBytes(address),
  aaaa: (address: string): Buffer => ipv6ToBytes(address),
  /** For CNAME, PTR and NS: the target name, already encoded. */
  name: (target: Buffer): Buffer => target,
  srv(priority: number, weight: number, port: number, target: Buffer): Buffer {
    const out = Buffer.allocUnsafe(6 + target.length);
    out.writeUInt16BE(priority, 0);
    out.writeUInt16BE(weight, 2);
    out.writeUInt16BE(port, 4);
    target.copy(out, 6);
    return out;
  },
  txt(strings: string[]): Buffer {
    return Buffer.concat(
      strings.map((s) => {
        const bytes = Buffer.from(s, 'utf8').subarray(0, 255);
        return Buffer.concat([Buffer.from([bytes.length]), bytes]);
      }),
    );
  },
  soa(mname: Buffer, rname: Buffer, serial: number, refresh: number, retry: number, expire: number, minimum: number): Buffer {
    const numbers = Buffer.allocUnsafe(20);
    [serial, refresh, retry, expire, minimum].forEach((n, i) => numbers.writeUInt32BE(n >>> 0, i * 4));
    return Buffer.concat([mname, rname, numbers]);
  },
};
