/**
 * The serving workers, seen from the primary thread, which keeps the one source (API watch or
 * objects file), the cluster view, the one forwarder, the settings and the ops listener, and
 * serves its own share of the port as serving thread 0. Workers are threads 1 and up. A worker
 * holds no view: it answers from the fixed answers the primary writes into the table all threads
 * share (server/shared-answers.ts) and from the balanced routes the primary taught it, and relays
 * the rest here, where the primary's serving thread answers them (ServingThread.answerRelayed);
 * what that thread's handler drops (a view change, a slow-start step, placements), the workers
 * drop too. A fixed answer leaves the shared table in the turn of the change that drops it.
 *
 * Why the primary serves too, rather than only answering relays: a worker is a whole V8 isolate
 * with Node's bootstrap, about 15 MiB before it holds anything, and the primary holds the view
 * anyway. With `workers: 2` that was 2 workers beside a primary that only answered relays; now
 * it is the primary and one worker. At 10,000 Services / 100,000 endpoints (the bundle, settled):
 * 143–144 MiB RSS instead of 156–158, where one thread takes 128.
 *
 * Ordering: replies and drops go down the one message channel of each worker, which keeps their
 * order. A reply teaches a route only when it was answered in the turn the request arrived
 * (QueryHandler.answerRelayed), so it was read from the view as of that turn and posted then:
 * before the drop of any change made after it. A drop is posted a turn after its change, so a
 * reply made after the change may arrive before its drop: the drop then takes a route that was
 * current, which costs one more relay, never a stale answer. So a worker never keeps a route
 * older than a drop it has applied.
 *
 * The primary binds first (port-probe.ts checks no other socket holds the ports), so ports given
 * as 0 are known before the workers share them. A worker that dies is started again (with
 * backoff) on the same ports while the others keep serving; the pool gives up only when workers
 * keep dying.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Settings } from '../settings/schema.ts';
import type { AnswerDrop, BoundListen, ServingStats, ServingThread } from '../server/serving.ts';
import type { RelayReply } from '../server/handler.ts';
import type { UdpIo } from '../server/udp-batch.ts';
import { type FromWorker, type ToWorker, type WorkerStart, asBuffer, postedReply } from './messages.ts';
import { backoffDelay } from '../util/backoff.ts';
import { cookieSecret } from '../server/edns-reply.ts';
import { questionKeySeed } from '../wire/query.ts';

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './serving-worker.ts' : './serving-worker.js', import.meta.url);
/** How long a scrape waits for a worker's numbers before using the last ones it sent. */
const STATS_TIMEOUT_MS = 1000;
const STOP_TIMEOUT_MS = 2000;
/**
 * A worker's V8 young generation. A worker keeps little (routes, placements) but allocates per
 * relayed query; V8's default lets each worker's young generation grow to tens of MiB under a
 * burst of new names and keep them (measured at 10,000 new names: about a third less RSS per
 * worker with 8 MiB than with the default), for scavenges that are cheap either way at this size.
 */
const WORKER_YOUNG_GENERATION_MB = 8;
/**
 * A worker's V8 old generation limit. V8 lets a heap grow past what it kept at its last full
 * collection by a factor it picks from this limit: on a machine with lots of memory up to about
 * four times, and each relayed query leaves about 1 KiB of garbage. A pod sending distinct names
 * (bench:memory's churn, 240,000 of them at 10,000 Services) grew each worker's heap to 165–212 MiB
 * around 60–75 MiB of routes, RSS peaking at 612 MiB; with this limit 94–104 MiB, peaking at
 * 437 MiB. What a worker keeps is bounded far below it (answerCacheSize routes, placements, relays
 * in flight); were it ever reached, the worker ends and the pool restarts it.
 */
const WORKER_OLD_GENERATION_MB = 512;
/** More drops than this before they are posted: the workers drop everything instead (a reload's thousands of changes). */
const MAX_DROPS_PER_MESSAGE = 256;
const DROP_EVERYTHING: AnswerDrop[] = [{ kind: 'change', change: { scope: 'all' } }, { kind: 'placements' }];

/** A worker thread just started, and when it listens. */
interface Spawned {
  entry: ServingWorker;
  listening: Promise<BoundListen[]>;
}

interface ServingWorker {
  worker: Worker;
  stopping: boolean;
  /** False once the thread has exited: it gets no messages, and no scrape waits for it. */
  alive: boolean;
  lastStats: ServingStats | null;
}

/** When a worker that died is started again, and when the pool gives up. */
export interface RestartPolicy {
  /** More restarts than this within windowMs: the pool gives up and calls onFailure. */
  maxRestarts: number;
  windowMs: number;
  /** Wait before a restart: doubled for each restart still in the window, up to maxBackoffMs (util/backoff.ts). */
  backoffMs: number;
  maxBackoffMs: number;
}

const DEFAULT_RESTARTS: RestartPolicy = { maxRestarts: 5, windowMs: 60_000, backoffMs: 100, maxBackoffMs: 5_000 };

export interface WorkerPoolOptions {
  /** Serving threads in the process, the primary's included: the pool starts one fewer. */
  threads: number;
  settings: Settings;
  /** The primary's serving thread (thread 0): it answers what workers relay, and its drops are theirs. */
  primary: ServingThread;
  /** How the workers move UDP datagrams (chosen once, by the primary). */
  udpIo: UdpIo;
  log: Logger;
  /**
   * Workers keep dying (more than maxRestarts within the window), or one restarted cannot listen:
   * the process cannot serve its share of the port. `index`: the serving thread (1 and up).
   */
  onFailure: (index: number, reason: string) => void;
  /** A worker died (a bug, out of memory) and is being started again; the others serve meanwhile. */
  onRestart?: (index: number, reason: string) => void;
  restarts?: Partial<RestartPolicy>;
}

export class WorkerPool {
  /** Serving thread n is workers[n - 1]: thread 0 is the primary. */
  private readonly workers: ServingWorker[] = [];
  private readonly options: WorkerPoolOptions;
  private readonly restartPolicy: RestartPolicy;
  /** When recent restarts happened, for the window. */
  private restartTimes: number[] = [];
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private settings: Settings;
  private ready = false;
  private stopped = false;
  private nextStatsId = 0;
  /** Where the primary bound: every worker, restarted ones too, joins these ports. */
  private bound: BoundListen[] = [];
  /** The threads prepare() started, until start() tells them where to listen. */
  private prepared: Spawned[] | null = null;
  /** Drops not posted yet: posted together a turn later, as one message per worker. */
  private drops: AnswerDrop[] = [];
  private dropsScheduled = false;

  /** Made before the source starts, so that no drop or readiness is missed; `prepare` (else `start`) spawns. */
  constructor(options: WorkerPoolOptions) {
    this.options = options;
    this.settings = options.settings;
    this.restartPolicy = { ...DEFAULT_RESTARTS, ...options.restarts };
    options.primary.onDrop((drop) => this.queueDrop(drop));
  }

  private queueDrop(drop: AnswerDrop): void {
    if (this.drops === DROP_EVERYTHING) return;
    this.drops.push(drop);
    if (this.drops.length > MAX_DROPS_PER_MESSAGE) this.drops = DROP_EVERYTHING;
    if (this.dropsScheduled) return;
    this.dropsScheduled = true;
    setImmediate(() => {
      this.broadcast({ type: 'drops', drops: this.drops });
      this.drops = [];
      this.dropsScheduled = false;
    });
  }

  /** Answers a request worker `entry` relayed, and posts the reply to it if it still runs. */
  private answerRelay(entry: ServingWorker, message: Extract<FromWorker, { type: 'relay' }>): void {
    const reply = (answered: RelayReply): void => {
      if (!entry.alive) return;
      const { posted, transfer } = postedReply(answered);
      entry.worker.postMessage({ type: 'relayed', id: message.id, reply: posted } satisfies ToWorker, transfer);
    };
    const answered = this.options.primary.answerRelayed(asBuffer(message.request), message.transport, message.client);
    // Answered now: posted now, ahead of any later drop (see the ordering above).
    if (answered instanceof Promise) void answered.then(reply);
    else reply(answered);
  }

  /**
   * Starts the worker threads without listening: they load their code while the primary reads its
   * source (they need nothing of the view), and `start` then only tells them where to listen.
   */
  prepare(): void {
    if (this.prepared !== null) return;
    this.prepared = Array.from({ length: this.options.threads - 1 }, (_, at) => this.spawn(at + 1));
    // A thread that dies before start() is reported there; until then nothing awaits it.
    for (const { listening } of this.prepared) listening.catch(() => {});
  }

  /** Resolves once every worker listens on `bound`, where the primary listens; rejects if one cannot. */
  async start(bound: BoundListen[]): Promise<void> {
    this.prepare();
    this.bound = bound;
    const prepared = this.prepared as Spawned[];
    for (const { entry } of prepared) this.listenOn(entry, bound);
    await Promise.all(prepared.map(({ listening }) => listening));
  }

  private listenOn(entry: ServingWorker, listen: BoundListen[]): void {
    entry.worker.postMessage({ type: 'listen', listen } satisfies ToWorker);
  }

  /** Starts worker `index` (again) with the settings and readiness as they are now; `listening` resolves once it listens where it is told to. */
  private spawn(index: number): Spawned {
    const { threads, log } = this.options;
    const start: WorkerStart = { index, threads, settings: this.settings, ready: this.ready, udpIo: this.options.udpIo, cookieSecret: cookieSecret(), questionKeySeed: questionKeySeed(), sharedAnswers: this.options.primary.sharedAnswers };
    const worker = new Worker(WORKER_URL, { workerData: start, name: `lbdns-worker-${index}`, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB, maxOldGenerationSizeMb: WORKER_OLD_GENERATION_MB } });
    const entry: ServingWorker = { worker, stopping: false, alive: true, lastStats: null };
    this.workers[index - 1] = entry;
    const listening = new Promise<BoundListen[]>((resolve, reject) => {
      let listening = false;
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'relay') this.answerRelay(entry, message);
        else if (message.type === 'listening') {
          listening = true;
          resolve(message.bound);
        }
      });
      worker.on('error', (error) => {
        if (!listening) reject(error);
        else log.error({ worker: index, err: error.message }, 'serving worker failed');
      });
      worker.on('exit', (code) => {
        entry.alive = false;
        if (!listening) reject(new Error(`serving worker ${index} exited with code ${code} before it listened`));
        else if (!entry.stopping && !this.stopped) this.restart(index, `exited with code ${code}`);
      });
    });
    return { entry, listening };
  }

  /** Starts a dead worker again after a backoff, unless workers have died too often lately. */
  private restart(index: number, reason: string): void {
    const { log, onFailure, onRestart } = this.options;
    const { maxRestarts, windowMs, backoffMs, maxBackoffMs } = this.restartPolicy;
    const now = Date.now();
    this.restartTimes = this.restartTimes.filter((at) => now - at < windowMs);
    if (this.restartTimes.length >= maxRestarts) {
      onFailure(index, `${reason}, after ${this.restartTimes.length} restarts within ${windowMs / 1000} s`);
      return;
    }
    this.restartTimes.push(now);
    const delayMs = backoffDelay(this.restartTimes.length, { baseMs: backoffMs, maxMs: maxBackoffMs, jitter: false });
    log.error({ worker: index, reason, restartInMs: delayMs }, 'a serving worker died; restarting it while the others serve');
    onRestart?.(index, reason);
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.stopped) return;
      const { entry, listening } = this.spawn(index);
      this.listenOn(entry, this.bound);
      listening.then(
        () => log.info({ worker: index }, 'serving worker restarted'),
        (error: Error) => onFailure(index, `restarted, but it could not listen: ${error.message}`),
      );
    }, delayMs);
    this.restartTimers.add(timer);
  }

  /** For tests: serving thread `index`'s worker (1 and up), to end it as a crash would. */
  workerThreadForTests(index: number): Worker | undefined {
    return this.workers[index - 1]?.worker;
  }

  private broadcast(message: ToWorker): void {
    for (const { worker, alive } of this.workers) if (alive) worker.postMessage(message);
  }

  setReady(): void {
    this.ready = true;
    this.broadcast({ type: 'ready' });
  }

  reload(settings: Settings): void {
    this.settings = settings;
    this.broadcast({ type: 'settings', settings });
  }

  /** The last numbers of every worker, thread 1 first. */
  stats(): ServingStats[] {
    return this.workers.flatMap((w) => (w.lastStats ? [w.lastStats] : []));
  }

  /** Asks every worker for its numbers; one that does not answer in time keeps its last ones. */
  async collect(): Promise<void> {
    const id = this.nextStatsId++;
    await Promise.all(
      this.alive().map(
        (entry) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(done, STATS_TIMEOUT_MS);
            function done(): void {
              clearTimeout(timer);
              entry.worker.off('message', onMessage);
              resolve();
            }
            function onMessage(message: FromWorker): void {
              if (message.type !== 'stats' || message.id !== id) return;
              entry.lastStats = message.stats;
              done();
            }
            entry.worker.on('message', onMessage);
            entry.worker.postMessage({ type: 'stats', id } satisfies ToWorker);
          }),
      ),
    );
  }

  private alive(): ServingWorker[] {
    return this.workers.filter((entry) => entry.alive);
  }

  /** Closes every worker's sockets, then ends the threads; no worker is restarted after this. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    await Promise.all(
      this.alive().map(async (entry) => {
        entry.stopping = true;
        const stopped = new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, STOP_TIMEOUT_MS);
          entry.worker.on('message', (message: FromWorker) => {
            if (message.type === 'stopped') {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        entry.worker.postMessage({ type: 'stop' } satisfies ToWorker);
        await stopped;
        await entry.worker.terminate();
      }),
    );
  }
}
