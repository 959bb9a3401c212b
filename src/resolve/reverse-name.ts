/** Reverse names (RFC 1035 §3.5, RFC 3596 §2.5) to addresses and back. */
import { bytesToIp, ipToBytes } from '../net/ip.ts';

/** The canonical address a complete reverse name stands for, or null (partial or malformed names). */
export function addressFromReverseName(name: string): string | null {
  if (name.endsWith('.in-addr.arpa')) {
    const octets = name.slice(0, -'.in-addr.arpa'.length).split('.');
    if (octets.length !== 4 || !octets.every((o) => /^(0|[1-9]\d{0,2})$/.test(o) && Number(o) <= 255)) return null;
    return octets.reverse().join('.');
  }
  if (name.endsWith('.ip6.arpa')) {
    const nibbles = name.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((n) => /^[0-9a-f]$/.test(n))) return null;
    const bytes = new Uint8Array(16);
    for (let i = 0; i < 16; i++) bytes[i] = parseInt(`${nibbles[31 - 2 * i]}${nibbles[30 - 2 * i]}`, 16);
    return bytesToIp(bytes);
  }
  return null;
}

export function reverseNameOf(address: string): string {
  const bytes = ipToBytes(address);
  if (bytes === null) throw new Error(`not an IP address: ${address}`);
  if (bytes.length === 4) return `${[...bytes].reverse().join('.')}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    const byte = bytes[i] as number;
    nibbles.push((byte & 0xf).toString(16), (byte >> 4).toString(16));
  }
  return `${nibbles.join('.')}.ip6.arpa`;
}
