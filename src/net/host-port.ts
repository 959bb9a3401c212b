/**
 * The one HOST:PORT parser: listen addresses, the ops ports and upstream servers are all spelled
 * "HOST:PORT" or "[IPv6]:PORT" (an upstream may leave the port out), and are printed back the same way.
 */
import { isIPv6 } from 'node:net';
import { canonicalIp } from './ip.ts';

export interface HostPort {
  host: string;
  port: number;
}

const BRACKETED = /^\[([^\]]+)\](?::(\d{1,5}))?$/;
const PLAIN = /^([^:\s]+)(?::(\d{1,5}))?$/;

/**
 * "HOST:PORT" or "[IPv6]:PORT" (the brackets hold an IPv6 address); with `defaultPort`, also
 * "HOST", "[IPv6]" and a bare IPv6 address. Null: not one of these, or a port above 65535.
 */
export function parseHostPort(text: string, defaultPort?: number): HostPort | null {
  let host: string;
  let port: string | undefined;
  const bracketed = BRACKETED.exec(text);
  if (bracketed) {
    [, host = '', port] = bracketed;
    if (!isIPv6(host)) return null;
  } else if (defaultPort !== undefined && isIPv6(text)) {
    host = text;
  } else {
    const plain = PLAIN.exec(text);
    if (!plain) return null;
    [, host = '', port] = plain;
  }
  const number = port === undefined ? defaultPort : Number(port);
  return number === undefined || number > 65535 ? null : { host, port: number };
}

/** "HOST:PORT", with brackets around an IPv6 host. */
export function formatHostPort(address: HostPort): string {
  return isIPv6(address.host) ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** A DNS server to ask: an IP address (made canonical) and a port from 1, 53 unless given. Throws, naming the text. */
export function parseServerAddress(text: string): HostPort {
  const parsed = parseHostPort(text, 53);
  const host = parsed && canonicalIp(parsed.host);
  if (!parsed || !host || parsed.port < 1) throw new Error(`upstream "${text}": expected ADDR or ADDR:PORT`);
  return { host, port: parsed.port };
}
