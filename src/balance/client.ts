/** What the balancer knows about the client: its address, its zone, and a hash for affinity. */
import { type Cidr, cidrContains, clientAddressBytes, parseCidr } from '../net/cidr.ts';
import type { Settings } from '../settings/schema.ts';
import { fnv1a } from './plan.ts';

export interface Client {
  address: Uint8Array | null;
  zone: string | null;
  /** The client's node (exact name), for PreferSameNode; null when unknown. */
  node: string | null;
  hash: number;
}

const CACHE_LIMIT = 16_384;

export class ClientClassifier {
  private readonly ranges: Array<Cidr & { zone: string }>;
  private readonly nodeZone: string | null;
  private readonly cache = new Map<string, Client>();

  constructor(settings: Settings, env: NodeJS.ProcessEnv = process.env) {
    this.ranges = Object.entries(settings.balance.clientZones)
      .map(([cidr, zone]) => ({ ...(parseCidr(cidr) as Cidr), zone }))
      .filter((r) => r.bytes !== undefined)
      // Longest prefix first, so the most specific range wins.
      .sort((a, b) => b.prefix - a.prefix);
    this.nodeZone = settings.balance.nodeZone ?? env.LBDNS_NODE_ZONE ?? null;
  }

  /** `address` as a socket reports it; results are cached per address. */
  classify(address: string): Client {
    let client = this.cache.get(address);
    if (client) return client;
    const bytes = clientAddressBytes(address);
    let zone = this.nodeZone;
    if (bytes) {
      const range = this.ranges.find((r) => cidrContains(r, bytes));
      if (range) zone = range.zone;
    }
    // node: filled by client placement (Node pod CIDRs); unknown here.
    client = { address: bytes, zone, node: null, hash: bytes ? fnv1a(Buffer.from(bytes).toString('hex')) : 0 };
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(address, client);
    return client;
  }
}
