/**
 * What the balancer knows about the client: its address, its node and zone, and a hash for
 * affinity. Placement, first rule that knows wins:
 * - `endpoint`: the address is a published endpoint; its EndpointSlice nodeName and zone (else its node's zone).
 * - `pod`: with `pods: verified`, a pod of that address; its spec.nodeName.
 * - `podCIDR`: the Node whose pod CIDR holds the address (longest prefix).
 * - `nodeZone`: nothing knew; node-local mode's own node zone (balance.nodeZone, LBDNS_NODE_ZONE).
 * `balance.clientZones` overrides the zone (`zoneBy: 'clientZones'`), never the node.
 */
import { type Cidr, cidrContains, clientAddressBytes, parseCidr } from '../net/cidr.ts';
import { bytesToIp } from '../net/ip.ts';
import type { Settings } from '../settings/schema.ts';
import type { ClusterView } from '../view/cluster-view.ts';
import { fnv1a } from './plan.ts';

export type PlacedBy = 'endpoint' | 'pod' | 'podCIDR' | 'none';
export type ZoneBy = 'clientZones' | 'endpoint' | 'node' | 'nodeZone' | 'none';

export interface Client {
  address: Uint8Array | null;
  /** The exact name of the client's node (internalTrafficPolicy: Local, PreferSameNode), or null when not known. */
  node: string | null;
  zone: string | null;
  hash: number;
  /** Which rule placed the client on its node, and which gave its zone (for /debug/balance). */
  placedBy?: PlacedBy;
  zoneBy?: ZoneBy;
}

const CACHE_LIMIT = 16_384;

/** Where clients are placed, by the address a socket reports; null: not known here (a serving worker asks the primary). */
export interface ClientPlacements {
  classify(address: string): Client | null;
}

export class ClientClassifier implements ClientPlacements {
  private readonly ranges: Array<Cidr & { zone: string }>;
  private readonly nodeZone: string | null;
  private readonly view: ClusterView | null;
  private readonly podsVerified: boolean;
  private readonly cache = new Map<string, Client>();
  /** The view's placementGeneration the cache was filled at. */
  private generation = -1;

  constructor(settings: Settings, view: ClusterView | null = null, env: NodeJS.ProcessEnv = process.env) {
    this.ranges = Object.entries(settings.balance.clientZones)
      .map(([cidr, zone]) => ({ ...(parseCidr(cidr) as Cidr), zone }))
      .filter((r) => r.bytes !== undefined)
      // Longest prefix first, so the most specific range wins.
      .sort((a, b) => b.prefix - a.prefix);
    this.nodeZone = settings.balance.nodeZone ?? env.LBDNS_NODE_ZONE ?? null;
    this.view = view;
    this.podsVerified = settings.pods === 'verified';
  }

  /** `address` as a socket reports it; results are cached per address until the view's Nodes, endpoints or pods change. */
  classify(address: string): Client {
    if (this.view && this.view.placementGeneration !== this.generation) {
      this.cache.clear();
      this.generation = this.view.placementGeneration;
    }
    let client = this.cache.get(address);
    if (client) return client;
    client = this.place(address);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(address, client);
    return client;
  }

  private place(address: string): Client {
    const bytes = clientAddressBytes(address);
    let node: string | null = null;
    let zone: string | null = null;
    let placedBy: PlacedBy = 'none';
    let zoneBy: ZoneBy = 'none';
    if (bytes && this.view) {
      const ip = bytesToIp(bytes);
      const endpoint = this.view.endpointsByIp(ip).find((ref) => ref.endpoint.nodeName !== null || ref.endpoint.zone !== null)?.endpoint;
      if (endpoint) {
        placedBy = 'endpoint';
        node = endpoint.nodeName;
        if (endpoint.zone !== null) [zone, zoneBy] = [endpoint.zone, 'endpoint'];
      }
      if (node === null && this.podsVerified) {
        const pod = this.view.podsByIp(ip).find((p) => p.nodeName);
        if (pod?.nodeName) [node, placedBy] = [pod.nodeName, 'pod'];
      }
      if (node === null) {
        const found = this.view.nodeByAddress(bytes);
        if (found) [node, placedBy] = [found.name, 'podCIDR'];
      }
      if (zone === null && node !== null) {
        const nodeZone = this.view.node(node)?.zone ?? null;
        if (nodeZone !== null) [zone, zoneBy] = [nodeZone, 'node'];
      }
    }
    if (zone === null && this.nodeZone !== null) [zone, zoneBy] = [this.nodeZone, 'nodeZone'];
    if (bytes) {
      const range = this.ranges.find((r) => cidrContains(r, bytes));
      if (range) [zone, zoneBy] = [range.zone, 'clientZones'];
    }
    return { address: bytes, node, zone, hash: bytes ? fnv1a(Buffer.from(bytes).toString('hex')) : 0, placedBy, zoneBy };
  }
}

/**
 * A serving worker's placements: it holds no view, so it keeps what the primary's classifier said
 * about each client it relayed, until told that placements may have changed (clear). Bounded as
 * the classifier's cache is.
 */
export class LearnedPlacements implements ClientPlacements {
  private readonly known = new Map<string, Client>();

  classify(address: string): Client | null {
    return this.known.get(address) ?? null;
  }

  learn(address: string, client: Client): void {
    if (this.known.size >= CACHE_LIMIT) this.known.clear();
    this.known.set(address, client);
  }

  clear(): void {
    this.known.clear();
  }
}
