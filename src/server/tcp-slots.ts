/**
 * TCP connection slots, counted per client prefix (a node's pods share a /24, so one pod cannot
 * dodge a per-address cap by using its neighbours' addresses). When every slot is taken, a
 * connection from a prefix other than the busiest one takes the slot of the busiest prefix's
 * connection that has been quiet the longest: a few prefixes holding every slot with connections
 * that trickle queries can no longer lock other clients out of TCP fallback.
 */

export interface SlotLimits {
  maxConnections: number;
  /** Per client prefix. */
  maxConnectionsPerClient: number;
}

/** One connection's slot: its prefix, and how to close it when it is evicted (and only then). */
export interface Slot {
  readonly prefix: string;
  readonly close: () => void;
}

/** Why a connection gets no slot: its prefix holds its share, or every slot is taken. */
export type Refusal = 'prefix_full' | 'server_full';

export class ConnectionSlots {
  private readonly limits: SlotLimits;
  /** Per prefix, its connections from the longest quiet to the latest active (a Map keeps insertion order). */
  private readonly byPrefix = new Map<string, Set<Slot>>();
  private total = 0;

  constructor(limits: SlotLimits) {
    this.limits = limits;
  }

  get size(): number {
    return this.total;
  }

  /**
   * A slot for a new connection from `prefix`, or why there is none. At the total cap, the
   * busiest prefix (more connections than this one's) gives up its longest quiet connection.
   */
  admit(prefix: string, close: () => void): Slot | Refusal {
    const own = this.byPrefix.get(prefix);
    if ((own?.size ?? 0) >= this.limits.maxConnectionsPerClient) return 'prefix_full';
    if (this.total >= this.limits.maxConnections) {
      const busiest = this.busiest();
      // A prefix as busy as the busiest takes nobody's slot: evicting would only trade places.
      if (busiest === null || busiest.size <= (own?.size ?? 0)) return 'server_full';
      const quietest = busiest.values().next().value as Slot;
      this.release(quietest);
      quietest.close();
    }
    const slot: Slot = { prefix, close };
    let set = this.byPrefix.get(prefix);
    if (set === undefined) {
      set = new Set();
      this.byPrefix.set(prefix, set);
    }
    set.add(slot);
    this.total++;
    return slot;
  }

  /** The connection completed a message: it is the last its prefix would give up. */
  touch(slot: Slot): void {
    const set = this.byPrefix.get(slot.prefix);
    if (set?.delete(slot)) set.add(slot);
  }

  /** The connection closed (or was evicted); releasing twice is harmless. */
  release(slot: Slot): void {
    const set = this.byPrefix.get(slot.prefix);
    if (!set?.delete(slot)) return;
    this.total--;
    if (set.size === 0) this.byPrefix.delete(slot.prefix);
  }

  /** The prefix with the most connections. A scan, bounded by maxConnections, and only at the cap. */
  private busiest(): Set<Slot> | null {
    let found: Set<Slot> | null = null;
    for (const set of this.byPrefix.values()) if (found === null || set.size > found.size) found = set;
    return found;
  }
}
