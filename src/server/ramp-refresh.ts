/**
 * Slow start without per-query work: an answer prepared while an endpoint of its Service ramps is
 * served as prepared until its next step (resolve tells when, see balance/slow-start.ts), then this
 * drops that Service's prepared answers and the next query prepares them with the ramp as it is
 * then. One timer per serving thread, at the earliest due time; at most one due time per Service,
 * so a ramp costs one rebuild per Service per step, and nothing for Services that do not ramp.
 * Only the Service's own answers go: answers that depend on the whole view (reverse names) do not
 * change with a ramp, so they stay.
 */
/**
 * Due times are rounded up to whole ticks, so that Services prepared at different moments are
 * refreshed together: at most one timer run per tick, however many Services ramp.
 */
export const REFRESH_TICK_MS = 1000;

interface Due {
  namespace: string;
  service: string;
  atMs: number;
}

export class RampRefresh {
  private readonly due = new Map<string, Due>();
  private readonly drop: (namespace: string, service: string) => void;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  /** Services whose answers were dropped for a ramp step, for tests and the curious. */
  refreshes = 0;

  /** `drop`: forget the Service's prepared answers. */
  constructor(drop: (namespace: string, service: string) => void, now: () => number = Date.now) {
    this.drop = drop;
    this.now = now;
  }

  /** Services with a refresh pending. */
  get pending(): number {
    return this.due.size;
  }

  /** Drop the Service's answers at `atMs` (Unix ms, rounded up to a tick); an earlier time already pending stays. */
  schedule(namespace: string, service: string, atMs: number): void {
    atMs = Math.ceil(atMs / REFRESH_TICK_MS) * REFRESH_TICK_MS;
    const key = `${namespace}/${service}`;
    const current = this.due.get(key);
    if (current !== undefined && current.atMs <= atMs) return;
    this.due.set(key, { namespace, service, atMs });
    this.arm(atMs);
  }

  /** Drops the answers of every Service whose time has come; returns how many. */
  fire(): number {
    this.timer = null;
    this.timerAt = Infinity;
    const now = this.now();
    let next = Infinity;
    let fired = 0;
    for (const [key, due] of this.due) {
      if (due.atMs <= now) {
        this.due.delete(key);
        fired++;
        this.drop(due.namespace, due.service);
      } else next = Math.min(next, due.atMs);
    }
    this.refreshes += fired;
    if (next !== Infinity) this.arm(next);
    return fired;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
    this.due.clear();
  }

  private arm(atMs: number): void {
    if (atMs >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = atMs;
    this.timer = setTimeout(() => this.fire(), Math.max(0, atMs - this.now()));
    this.timer.unref();
  }
}
