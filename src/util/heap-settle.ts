/**
 * One full collection after a bulk change of the cluster view (the first list, a relist after
 * 410 Gone, an objects-file reload), once the changes have gone quiet.
 *
 * Why: taking in 100,000 endpoints leaves about as much garbage in the old space as the view
 * itself (parsed pages, replaced records, old indexes), and V8 collects it only when the heap
 * grows again. An idle DNS server's heap does not grow, so that garbage stayed resident for good:
 * at 10,000 Services / 100,000 endpoints with 2 workers, 230 MiB RSS without this, 188 MiB with it
 * (main thread heap 97 → 57 MiB used). The collection costs the thread one pause per bulk
 * change, not per query: about 130 ms at 100,000 endpoints (fullCollection says why that kind).
 *
 * Then what malloc holds free is given back to the kernel (releaseFreedMemory, glibc's
 * malloc_trim through the native addon): glibc returns freed memory only from the top of a heap,
 * and the bulk change (the objects file parsed in a thread of its own, the first list's pages)
 * leaves 13-18 MiB free below live allocations, resident for good without it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** A full, compacting collection of this thread's heap. */
export type Collect = () => void;

/** What V8's `gc` takes (V8's own gc extension). */
type GcFunction = (options?: { type: 'major'; execution: 'sync'; flavor: 'regular' | 'last-resort' }) => void;

/**
 * V8's own full collection, the kind that reduces memory ('last-resort': it moves objects out of
 * every fragmented page, as V8 does when memory runs short or its memory reducer finds the thread
 * idle). A regular full collection moves few: after taking in 100,000 endpoints it left 39 MiB
 * in use in 64 MiB of pages, and those pages stayed until V8's own reducer ran, long after a
 * burst of queries or never; this one leaves 41 MiB of pages (2 workers at 10,000 Services:
 * settled RSS 130 MiB instead of 156, 160 right after saturating load instead of 177). It pauses
 * the thread longer, once per bulk change: 134 ms instead of 42 there.
 *
 * `gc` exists only with --expose-gc; the flag is set here for this isolate, and a new context is
 * made afterwards so that it gets the function (the current one was made before the flag).
 */
export function fullCollection(): Collect {
  let gc = (globalThis as { gc?: GcFunction }).gc;
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as GcFunction;
  }
  const collect = gc;
  return () => collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

export interface HeapSettleOptions {
  /** Records (objects, plus the endpoints a slice carries) changed since the last collection that make a bulk change. */
  threshold: number;
  /** Collect once no change came for this long… */
  quietMs: number;
  /** …or this long after the bulk change began, if changes keep coming. */
  maxDelayMs: number;
  /**
   * But never sooner than this after the last collection: whoever can change the cluster (a pod
   * that churns a Service of its own) then costs the view's thread one collection per interval at
   * most, whatever the rate.
   */
  minIntervalMs: number;
  collect: Collect;
  /**
   * After the collection, gives the memory malloc holds free back to the kernel; true when it
   * gave some. Null where it cannot (the native addon did not load).
   */
  releaseFreedMemory: (() => boolean) | null;
  /** After each collection: what it took and what it freed. */
  onSettled?: (result: Settled) => void;
  /** The heap in use now (bytes); injectable for tests. */
  heapUsed?: () => number;
  /** The resident set now (bytes); injectable for tests. */
  rss?: () => number;
  /** Milliseconds on a monotonic clock; injectable for tests. */
  now?: () => number;
}

/** One settling: the collection, then the release of the freed memory. */
export interface Settled {
  /** Records changed since the last collection. */
  records: number;
  /** The collection's time, and the heap used before and after it. */
  ms: number;
  heapUsedBefore: number;
  heapUsedAfter: number;
  /** The resident set before the collection and after it (bytes). */
  rssBefore: number;
  rssAfterCollection: number;
  /** The release's time, whether it gave memory back, and the resident set after it; null without releaseFreedMemory. */
  release: { ms: number; released: boolean; rssAfter: number } | null;
}

export class HeapSettler {
  private records = 0;
  private firstAt = 0;
  private lastCollectedAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;
  private readonly heapUsed: () => number;
  private readonly rss: () => number;
  private readonly now: () => number;
  private readonly options: HeapSettleOptions;

  constructor(options: HeapSettleOptions) {
    this.options = options;
    this.heapUsed = options.heapUsed ?? (() => process.memoryUsage().heapUsed);
    this.rss = options.rss ?? (() => process.memoryUsage.rss());
    this.now = options.now ?? (() => performance.now());
  }

  /** `records` were changed now. */
  note(records: number): void {
    if (records <= 0) return;
    const now = this.now();
    if (this.records === 0) this.firstAt = now;
    this.records += records;
    if (this.records < this.options.threshold) return;
    if (this.timer) clearTimeout(this.timer);
    const { quietMs, maxDelayMs, minIntervalMs } = this.options;
    const wait = Math.max(0, Math.min(quietMs, this.firstAt + maxDelayMs - now), this.lastCollectedAt + minIntervalMs - now);
    this.timer = setTimeout(() => this.settle(), wait);
    // Garbage is no reason to keep a stopping process alive.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private settle(): void {
    this.timer = null;
    const records = this.records;
    this.records = 0;
    const heapUsedBefore = this.heapUsed();
    const rssBefore = this.rss();
    const started = this.now();
    this.options.collect();
    this.lastCollectedAt = this.now();
    const heapUsedAfter = this.heapUsed();
    const rssAfterCollection = this.rss();
    const release = this.release();
    this.options.onSettled?.({ records, ms: this.lastCollectedAt - started, heapUsedBefore, heapUsedAfter, rssBefore, rssAfterCollection, release });
  }

  private release(): Settled['release'] {
    const { releaseFreedMemory } = this.options;
    if (!releaseFreedMemory) return null;
    const started = this.now();
    const released = releaseFreedMemory();
    return { ms: this.now() - started, released, rssAfter: this.rss() };
  }
}
