/** CIDR ranges and common prefixes of addresses, as bytes. */
import { ipToBytes } from './ip.ts';

export interface Cidr {
  bytes: Uint8Array;
  prefix: number;
}

export function parseCidr(text: string): Cidr | null {
  const [address, prefixText] = text.split('/');
  const bytes = address === undefined ? null : ipToBytes(address);
  const prefix = Number(prefixText);
  if (bytes === null || !Number.isInteger(prefix) || prefix < 0 || prefix > bytes.length * 8) return null;
  return { bytes, prefix };
}

/** The number of leading bits two addresses of one family share; 0 across families. */
export function commonPrefixLength(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) {
    const diff = (a[i] as number) ^ (b[i] as number);
    if (diff !== 0) return i * 8 + Math.clz32(diff) - 24;
  }
  return a.length * 8;
}

export function cidrContains(cidr: Cidr, address: Uint8Array): boolean {
  return commonPrefixLength(cidr.bytes, address) >= cidr.prefix;
}

/** A client address as a socket reports it, as bytes; IPv4-mapped IPv6 peers as IPv4; null if not an IP. */
export function clientAddressBytes(text: string): Uint8Array | null {
  const raw = ipToBytes(text);
  return raw === null ? null : unmapIpv4(raw);
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as dual-stack sockets report IPv4 peers) as IPv4. */
export function unmapIpv4(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  return bytes[10] === 0xff && bytes[11] === 0xff ? bytes.subarray(12) : bytes;
}

/**
 * The client's network as a key: its first `ipv4Bits` or `ipv6Bits` bits (an IPv4-mapped peer
 * counts as IPv4), so that the addresses of one node's pods, or one IPv6 site, share one budget.
 * Text that is not an IP is its own key.
 */
export function clientPrefixKey(client: string, ipv4Bits: number, ipv6Bits: number): string {
  const bytes = clientAddressBytes(client);
  if (bytes === null) return client;
  const bits = bytes.length === 4 ? ipv4Bits : ipv6Bits;
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out.push((bytes[i] as number) & ((0xff << (8 - keep)) & 0xff));
  }
  return out.join('.');
}
