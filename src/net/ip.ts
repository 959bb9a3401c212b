/** IP address text ↔ bytes, without allocation-heavy helpers, for records, reverse names and pod names. */
import { isIPv4, isIPv6 } from 'node:net';

export type IpFamily = 4 | 6;

export function ipFamily(address: string): IpFamily | null {
  if (isIPv4(address)) return 4;
  if (isIPv6(address)) return 6;
  return null;
}

export function ipv4ToBytes(address: string): Buffer {
  const out = Buffer.alloc(4);
  const parts = address.split('.');
  for (let i = 0; i < 4; i++) out[i] = Number(parts[i]);
  return out;
}

/** 16 bytes of a valid IPv6 address (checked by the caller with ipFamily), including the ::a.b.c.d forms. */
export function ipv6ToBytes(address: string): Buffer {
  const out = Buffer.alloc(16);
  let text = address.split('%')[0] as string;
  let tail: Buffer | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tail = ipv4ToBytes(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head = '', rest] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = [...headGroups, ...new Array<string>(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(parseInt(groups[i] as string, 16), i * 2);
  if (tail) tail.copy(out, 12);
  return out;
}

export function ipToBytes(address: string): Buffer | null {
  const family = ipFamily(address);
  if (family === 4) return ipv4ToBytes(address);
  if (family === 6) return ipv6ToBytes(address);
  return null;
}

/** Canonical text (RFC 5952 for IPv6) of 4 or 16 bytes, so equal addresses compare equal as strings. */
export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * Whether `address` is an IPv4 address written canonically (four decimal octets, no leading
 * zeros): what nearly every address in API objects is, checked without allocating.
 */
function isCanonicalIpv4(address: string): boolean {
  const length = address.length;
  if (length < 7 || length > 15) return false;
  let octets = 0;
  let at = 0;
  while (at < length) {
    let value = 0;
    let digits = 0;
    for (; at < length; at++) {
      const code = address.charCodeAt(at);
      if (code < 48 || code > 57) break;
      if (digits === 1 && value === 0) return false;
      value = value * 10 + (code - 48);
      digits++;
    }
    if (digits === 0 || digits > 3 || value > 255) return false;
    octets++;
    if (at === length) break;
    if (address.charCodeAt(at) !== 46 || octets === 4) return false;
    at++;
    if (at === length) return false;
  }
  return octets === 4;
}

/**
 * The canonical text of an address, or null when it is not one. An address already canonical is
 * returned as it is: the view then keeps the string the source read rather than a copy of it.
 */
export function canonicalIp(address: string): string | null {
  if (isCanonicalIpv4(address)) return address;
  const bytes = ipToBytes(address);
  return bytes === null ? null : bytesToIp(bytes);
}
