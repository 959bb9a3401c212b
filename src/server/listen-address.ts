/** "HOST:PORT" and "[IPv6]:PORT" as the settings and flags spell listen addresses. */
import { isIPv6 } from 'node:net';
import { formatHostPort, parseHostPort } from '../net/host-port.ts';

export interface ListenAddress {
  host: string;
  port: number;
  family: 'udp4' | 'udp6';
}

export function parseListenAddress(text: string): ListenAddress {
  const parsed = parseHostPort(text);
  if (!parsed) throw new Error(`listen address "${text}": expected HOST:PORT or [IPv6]:PORT`);
  return { ...parsed, family: isIPv6(parsed.host) ? 'udp6' : 'udp4' };
}

export const formatListenAddress = formatHostPort;
