/**
 * A serving worker's queue of the primary's view updates. The primary sends them as it makes
 * them, and a worker takes in every message that has arrived in one go: applied there and then, a
 * reload's thousands of events (or a relist's) would hold the worker's queries until the last.
 * They are applied in order, a few milliseconds' worth per turn of the event loop, each with the
 * primary's serial; anything that must follow them (readiness) waits its turn in the same queue.
 */
import type { ClusterView, ViewUpdate } from '../view/cluster-view.ts';

/** Time spent applying updates before queries get a turn. */
export const FEED_SLICE_MS = 5;

type Item = { update: ViewUpdate; serial: number } | { action: () => void };

export class ReplicaFeed {
  private readonly view: ClusterView;
  private readonly sliceMs: number;
  private readonly now: () => number;
  private queue: Item[] = [];
  private head = 0;
  private scheduled = false;

  constructor(view: ClusterView, sliceMs = FEED_SLICE_MS, now: () => number = () => performance.now()) {
    this.view = view;
    this.sliceMs = sliceMs;
    this.now = now;
  }

  /** Updates not applied yet. */
  get backlog(): number {
    return this.queue.length - this.head;
  }

  push(update: ViewUpdate, serial: number): void {
    this.queue.push({ update, serial });
    this.schedule();
  }

  /** Runs `action` once every update pushed before it is applied. */
  then(action: () => void): void {
    this.queue.push({ action });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const until = this.now() + this.sliceMs;
    do {
      const item = this.queue[this.head++] as Item;
      if ('action' in item) item.action();
      else this.view.replicate(item.update, item.serial);
    } while (this.head < this.queue.length && this.now() < until);
    if (this.head < this.queue.length) return this.schedule();
    this.queue = [];
    this.head = 0;
  }
}
