/**
 * The addresses this server answers on, for the NS records it gives about itself: the listen
 * hosts, or every interface address when it listens on a wildcard, plus POD_IP from the downward API.
 */
import { networkInterfaces } from 'node:os';
import { canonicalIp } from '../net/ip.ts';
import type { ListenAddress } from './listen-address.ts';

export function ownAddresses(listen: ListenAddress[], env: NodeJS.ProcessEnv = process.env): string[] {
  const found = new Set<string>();
  const podIp = env.POD_IP ? canonicalIp(env.POD_IP) : null;
  if (podIp) found.add(podIp);
  for (const { host } of listen) {
    if (host === '0.0.0.0' || host === '::') {
      for (const addresses of Object.values(networkInterfaces())) {
        for (const a of addresses ?? []) {
          if (!a.internal && (host === '::' || a.family === 'IPv4')) found.add(canonicalIp(a.address.split('%')[0] as string) as string);
        }
      }
    } else {
      const ip = canonicalIp(host);
      if (ip) found.add(ip);
    }
  }
  return [...found];
}
