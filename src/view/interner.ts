/**
 * One copy of each repeated string the view keeps: node names, zones, namespaces, hint names, port
 * names repeat on every endpoint or record, and each source's parser hands over its own copy of
 * each (JSON.parse shares only the shortest strings). Sources put every such field through
 * `intern` while slimming, so 100,000 endpoints on 500 nodes hold 500 node names, not 100,000.
 *
 * Bounded: the names of deleted objects are not tracked (that would cost more than it saves), so
 * once `capacity` distinct strings are held the table starts over empty. Records already made
 * keep their strings; only sharing with later ones is lost, until the table fills again. Churn of
 * node names (autoscaling) therefore costs at most `capacity` entries, never unbounded growth.
 */

/** Shared by every record with an empty list: one frozen array instead of one each. */
export const NO_STRINGS: readonly string[] = Object.freeze([]);

/** Shared by every Service without lbdns.io/ annotations (nearly all): one frozen object instead of one each. */
export const NO_ANNOTATIONS: Readonly<Record<string, string>> = Object.freeze({});

export class Interner {
  private table = new Map<string, string>();
  private readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** The first equal string seen (since the table last started over), else `value` from now on. */
  intern(value: string): string {
    const known = this.table.get(value);
    if (known !== undefined) return known;
    if (this.table.size >= this.capacity) this.table = new Map();
    this.table.set(value, value);
    return value;
  }

  /** `intern`, passing null and undefined through as null. */
  internOrNull(value: string | null | undefined): string | null {
    return value == null ? null : this.intern(value);
  }

  /** The strings as one interned list, or NO_STRINGS when there are none. */
  internAll(values: readonly string[]): readonly string[] {
    if (values.length === 0) return NO_STRINGS;
    const out = new Array<string>(values.length);
    for (let i = 0; i < values.length; i++) out[i] = this.intern(values[i] as string);
    return out;
  }

  /** How many strings the table holds now (at most `capacity`). */
  get size(): number {
    return this.table.size;
  }
}

/**
 * One copy of each repeated list of small records, found by a key that spells the list out: most
 * Services and slices of a cluster list the same few port shapes (at 10,000 Services, 20,000
 * ports and 20,000 lists held about 2.5 MiB). Bounded the same way as Interner. Shared lists are
 * frozen: a record never changes after it is made.
 */
export class ListInterner<T> {
  private table = new Map<string, readonly T[]>();
  private readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  share(list: readonly T[], key: string): readonly T[] {
    const known = this.table.get(key);
    if (known !== undefined) return known;
    if (this.table.size >= this.capacity) this.table = new Map();
    const frozen = Object.freeze(list);
    this.table.set(key, frozen);
    return frozen;
  }
}

/**
 * The interner every source slims through, and the view's Service keys. 65,536 distinct names
 * is far more than a cluster's nodes, zones, namespaces and port names together (the Kubernetes
 * limits: 5,000 nodes, 10,000 namespaces in practice), and its table, full, is a few MiB. With
 * more Services than that, the table starts over more often: keys are shared less, never wrong.
 */
export const sharedNames = new Interner(65_536);
