/**
 * Per-query numbers kept in plain counters and bucket arrays (a few nanoseconds per query), as
 * plain data a worker can post to the primary; ops/query-metrics.ts turns them into Prometheus
 * metrics when scraped (lbdns's own and CoreDNS's families, both from these counts). Counting
 * lives with the server that counts, so server/ needs nothing from ops/.
 */
import { RRType, rcodeName } from '../wire/constants.ts';
import { headerRcode } from '../wire/header.ts';
import { type BucketCounts, Buckets, DURATION_BUCKETS, SIZE_BUCKETS } from '../util/histogram.ts';

const REPORTED_TYPES = ['A', 'AAAA', 'SRV', 'PTR', 'CNAME', 'TXT', 'MX', 'NS', 'SOA', 'ANY', 'HTTPS', 'SVCB'];
/** The label of each type slot: the reported types, then "other". */
const TYPE_LABELS = [...REPORTED_TYPES.filter((name) => name in RRType), 'other'];
const OTHER_SLOT = TYPE_LABELS.length - 1;
/** Query type → its slot, one array read per query. */
const TYPE_SLOTS = new Uint8Array(65536).fill(OTHER_SLOT);
TYPE_LABELS.forEach((name, slot) => {
  if (slot !== OTHER_SLOT) TYPE_SLOTS[RRType[name as keyof typeof RRType]] = slot;
});
const PROTOS = ['udp', 'tcp'];
/** CoreDNS's `family` label: 1 for IPv4 (IPv4-mapped too), 2 for IPv6. */
const FAMILIES = ['1', '2'];
/** Response slots: the 16 header rcodes, then "dropped" (no response sent). */
const DROPPED_SLOT = 16;
const RCODE_LABELS = [...Array.from({ length: 16 }, (_, rcode) => rcodeName(rcode)), 'dropped'];

/** One zone's counts, in arrays indexed by slot: a query costs one map look-up (its zone). */
class ZoneCounts {
  /** [proto][family][type] flattened. */
  readonly requests = new Float64Array(PROTOS.length * FAMILIES.length * TYPE_LABELS.length);
  readonly responses = new Float64Array(RCODE_LABELS.length);
  /** By type (CoreDNS's request duration labels). */
  readonly duration: Array<Buckets | undefined> = [];
  /** By proto. */
  readonly requestSize: Array<Buckets | undefined> = [];
  readonly responseSize: Array<Buckets | undefined> = [];
}

function observeInto(list: Array<Buckets | undefined>, slot: number, bounds: number[], value: number): void {
  (list[slot] ??= new Buckets(bounds)).observe(value);
}

/** Counts keyed by their label values, tab-joined in the order the key's doc gives. */
export type Keyed<T> = Array<[string, T]>;

/** One serving thread's query numbers, plain data so a worker can post them to the primary. */
export interface QueryCounts {
  /** zone, proto, family, type. */
  requests: Keyed<number>;
  /** zone, rcode ("dropped": nothing was sent). */
  responses: Keyed<number>;
  /** policy. */
  policies: Keyed<number>;
  /** zone, type: seconds from request to response. */
  duration: Keyed<BucketCounts>;
  /** zone, proto: bytes. */
  requestSize: Keyed<BucketCounts>;
  responseSize: Keyed<BucketCounts>;
  /** Queries whose handling threw (CoreDNS's panics). */
  failures: number;
  /** Queries the addon answered from the shared table of fixed answers, without JavaScript (counted in the others too). */
  native: number;
}

function snapshotBuckets(out: Keyed<BucketCounts>, zone: string, labels: string[], list: Array<Buckets | undefined>): void {
  list.forEach((buckets, slot) => {
    if (buckets) out.push([`${zone}\t${labels[slot]}`, buckets.snapshot()]);
  });
}

/** Where one serving thread counts its queries. */
export class QueryStats {
  private readonly zones = new Map<string, ZoneCounts>();
  private readonly policies = new Map<string, number>();
  private failures = 0;
  private native = 0;

  snapshot(): QueryCounts {
    const counts: QueryCounts = { requests: [], responses: [], policies: [...this.policies], duration: [], requestSize: [], responseSize: [], failures: this.failures, native: this.native };
    for (const [zone, z] of this.zones) {
      z.requests.forEach((value, i) => {
        if (value === 0) return;
        const type = i % TYPE_LABELS.length;
        const family = Math.floor(i / TYPE_LABELS.length) % FAMILIES.length;
        const proto = Math.floor(i / (TYPE_LABELS.length * FAMILIES.length));
        counts.requests.push([`${zone}\t${PROTOS[proto]}\t${FAMILIES[family]}\t${TYPE_LABELS[type]}`, value]);
      });
      z.responses.forEach((value, rcode) => {
        if (value !== 0) counts.responses.push([`${zone}\t${RCODE_LABELS[rcode]}`, value]);
      });
      snapshotBuckets(counts.duration, zone, TYPE_LABELS, z.duration);
      snapshotBuckets(counts.requestSize, zone, PROTOS, z.requestSize);
      snapshotBuckets(counts.responseSize, zone, PROTOS, z.responseSize);
    }
    return counts;
  }

  /** One query from `client` (its address) of `requestSize` bytes, and its response (null: none sent). */
  record(zone: string, proto: string, client: string, qtype: number, requestSize: number, response: Buffer | null, seconds: number): void {
    // IPv4 addresses, IPv4-mapped ones too, have dots; other IPv6 addresses have none.
    const family = client.includes('.') ? 4 : 6;
    if (response === null || response.length < 4) this.count(zone, proto, family, qtype, requestSize, -1, 0, seconds);
    else this.count(zone, proto, family, qtype, requestSize, headerRcode(response), response.length, seconds);
  }

  /**
   * One query from a client of address `family` (4 or 6), and its response's header rcode and
   * length (rcode -1: no response was sent).
   */
  count(zone: string, proto: string, family: number, qtype: number, requestSize: number, rcode: number, responseSize: number, seconds: number): void {
    let z = this.zones.get(zone);
    if (z === undefined) this.zones.set(zone, (z = new ZoneCounts()));
    const type = TYPE_SLOTS[qtype] as number;
    const protoSlot = proto === 'tcp' ? 1 : 0;
    z.requests[(protoSlot * FAMILIES.length + (family === 4 ? 0 : 1)) * TYPE_LABELS.length + type]!++;
    observeInto(z.requestSize, protoSlot, SIZE_BUCKETS, requestSize);
    if (rcode < 0) {
      z.responses[DROPPED_SLOT]!++;
      return;
    }
    z.responses[rcode & 0xf]!++;
    observeInto(z.duration, type, DURATION_BUCKETS, seconds);
    observeInto(z.responseSize, protoSlot, SIZE_BUCKETS, responseSize);
  }

  /** A query the addon answered from the shared table (counted with count() too). */
  answeredNatively(): void {
    this.native++;
  }

  balanced(policy: string): void {
    this.policies.set(policy, (this.policies.get(policy) ?? 0) + 1);
  }

  /** A query whose handling threw: logged by the handler, counted here. */
  failed(): void {
    this.failures++;
  }
}
