/**
 * Who holds the upstream queries in flight: each client prefix at most `perClient`, clients
 * together at most `total`. Background refreshes (prefetch, serve-stale) have their own holder,
 * also at most `perClient`, outside the clients' total, so a flood can neither starve them nor
 * hide behind them. Joining a query already in flight takes no slot: only starting one does.
 */
import { clientAddressBytes } from '../net/cidr.ts';

/** The holder background refreshes are counted under. */
export const REFRESH_HOLDER = '(refresh)';

export interface SlotLimits {
  total: number;
  perClient: number;
  ipv4PrefixLength: number;
  ipv6PrefixLength: number;
}

/** The client's address prefix, as text ("10.244.1.7/32", "fd000000…/64"); unparsable text as is. */
export function clientPrefix(client: string, ipv4PrefixLength: number, ipv6PrefixLength: number): string {
  const bytes = clientAddressBytes(client);
  if (bytes === null) return client;
  const bits = bytes.length === 4 ? ipv4PrefixLength : ipv6PrefixLength;
  const masked = bytes.map((byte, i) => byte & ((0xff << (8 - Math.max(0, Math.min(8, bits - i * 8)))) & 0xff));
  return bytes.length === 4 ? `${masked.join('.')}/${bits}` : `${Buffer.from(masked).toString('hex')}/${bits}`;
}

export class UpstreamSlots {
  private readonly limits: SlotLimits;
  /** Slots held per holder; a holder with none has no entry, so the map is never larger than the queries in flight. */
  private readonly held = new Map<string, number>();
  private clientsHeld = 0;

  constructor(limits: SlotLimits) {
    this.limits = limits;
  }

  /** The holder a client's queries count under. */
  holderOf(client: string): string {
    return clientPrefix(client, this.limits.ipv4PrefixLength, this.limits.ipv6PrefixLength);
  }

  /** Takes a slot for `holder`; false when it, or the clients together, have all they may. */
  take(holder: string): boolean {
    const mine = this.held.get(holder) ?? 0;
    if (mine >= this.limits.perClient) return false;
    const client = holder !== REFRESH_HOLDER;
    if (client && this.clientsHeld >= this.limits.total) return false;
    this.held.set(holder, mine + 1);
    if (client) this.clientsHeld++;
    return true;
  }

  release(holder: string): void {
    const mine = this.held.get(holder) ?? 0;
    if (mine <= 1) this.held.delete(holder);
    else this.held.set(holder, mine - 1);
    if (holder !== REFRESH_HOLDER && mine > 0) this.clientsHeld--;
  }

  /** Slots held by `holder` (for tests and debugging). */
  heldBy(holder: string): number {
    return this.held.get(holder) ?? 0;
  }
}
