/**
 * A serving worker's side of the relay: requests it cannot answer from what it holds go to the
 * primary as messages, each waiting for its reply by id. Bounded both ways: at most maxInFlight
 * wait (beyond, null at once: the handler answers SERVFAIL), and none waits longer than timeoutMs
 * (a sweep gives up on them), so a flood of new names costs the primary a bounded queue.
 */
import type { RelayReply, Transport } from '../server/handler.ts';
import { type CountedRelay, noRelays } from '../server/serving.ts';
import type { Settings } from '../settings/schema.ts';
import { type FromWorker, type PostedReply, ownCopy, receivedReply } from './messages.ts';

type RelayLimits = Settings['relay'];

interface Waiting {
  resolve: (reply: RelayReply | null) => void;
  sentAt: number;
}

export class RelayClient implements CountedRelay {
  readonly counts = noRelays();
  private readonly send: (message: FromWorker, transfer: ArrayBuffer[]) => void;
  private readonly now: () => number;
  private limits: RelayLimits;
  /** In the order sent, so the sweep stops at the first that still has time. */
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(send: (message: FromWorker, transfer: ArrayBuffer[]) => void, limits: RelayLimits, now: () => number = () => performance.now()) {
    this.send = send;
    this.limits = limits;
    this.now = now;
  }

  /** Requests waiting for the primary now. */
  get inFlight(): number {
    return this.waiting.size;
  }

  /** New limits (a settings reload); requests already waiting keep their place. */
  reconfigure(limits: RelayLimits): void {
    this.limits = limits;
  }

  relay(request: Buffer, transport: Transport, client: string): Promise<RelayReply | null> {
    if (this.waiting.size >= this.limits.maxInFlight) {
      this.counts.full++;
      return Promise.resolve(null);
    }
    const id = this.nextId++;
    const bytes = ownCopy(request);
    return new Promise((resolve) => {
      this.waiting.set(id, { resolve, sentAt: this.now() });
      this.send({ type: 'relay', id, request: bytes, transport, client }, [bytes.buffer as ArrayBuffer]);
      this.timer ??= setInterval(() => this.sweep(), Math.max(10, this.limits.timeoutMs / 4)).unref();
    });
  }

  /** The primary's reply to request `id`; one given up on already is ignored (not even decoded). */
  settle(id: number, posted: PostedReply): void {
    const waiting = this.waiting.get(id);
    if (waiting === undefined) return;
    this.waiting.delete(id);
    this.counts.answered++;
    waiting.resolve(receivedReply(posted));
    this.idle();
  }

  /** Gives up on the requests that have waited timeoutMs or longer. */
  sweep(): void {
    const expired = this.now() - this.limits.timeoutMs;
    for (const [id, waiting] of this.waiting) {
      if (waiting.sentAt > expired) break;
      this.waiting.delete(id);
      this.counts.timedOut++;
      waiting.resolve(null);
    }
    this.idle();
  }

  /** Every request still waiting gets null (the worker stops). */
  close(): void {
    for (const waiting of this.waiting.values()) waiting.resolve(null);
    this.waiting.clear();
    this.idle();
  }

  private idle(): void {
    if (this.waiting.size > 0 || this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }
}
