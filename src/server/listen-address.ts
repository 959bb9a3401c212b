/** "HOST:PORT" and "[IPv6]:PORT" as the settings and flags spell listen addresses. */
import { isIPv6 } from 'node:net';

export interface ListenAddress {
  host: string;
  port: number;
  family: 'udp4' | 'udp6';
}

export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new Error(`listen address "${text}": expected HOST:PORT or [IPv6]:PORT`);
  const host = (match[1] ?? match[2]) as string;
  return { host, port, family: isIPv6(host) ? 'udp6' : 'udp4' };
}

export function formatListenAddress(address: { host: string; port: number }): string {
  return isIPv6(address.host) ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
