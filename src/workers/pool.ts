/**
 * The serving workers, seen from the primary thread, which keeps the one source (API watch or
 * objects file), the settings and the ops listener, and ships every view update to each worker.
 * Worker 0 binds first, so ports given as 0 are known before the others share them. A worker
 * that dies is started again (with backoff) on the same ports while the others keep serving; the
 * pool gives up only when workers keep dying.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Settings } from '../settings/schema.ts';
import type { ClusterView } from '../view/cluster-view.ts';
import type { BoundListen, ServingStats } from '../server/serving.ts';
import type { UdpIo } from '../server/udp-batch.ts';
import type { FromWorker, ToWorker, WorkerStart } from './messages.ts';
import { ensureAddressesFree } from '../server/port-probe.ts';
import { backoffDelay } from '../util/backoff.ts';
import { cookieSecret } from '../server/edns-reply.ts';

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './serving-worker.ts' : './serving-worker.js', import.meta.url);
/** How long a scrape waits for a worker's numbers before using the last ones it sent. */
const STATS_TIMEOUT_MS = 1000;
const STOP_TIMEOUT_MS = 2000;

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
  count: number;
  settings: Settings;
  view: ClusterView;
  listen: BoundListen[];
  /** How the workers move UDP datagrams (chosen once, by the primary). */
  udpIo: UdpIo;
  log: Logger;
  /**
   * Workers keep dying (more than maxRestarts within the window), or one restarted cannot listen:
   * the process cannot serve its share of the port.
   */
  onFailure: (index: number, reason: string) => void;
  /** A worker died (a bug, out of memory) and is being started again; the others serve meanwhile. */
  onRestart?: (index: number, reason: string) => void;
  restarts?: Partial<RestartPolicy>;
}

export class WorkerPool {
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
  /** Where worker 0 bound: every later worker, restarted ones too, joins these ports. */
  private bound: BoundListen[] | null = null;

  /** Made before the source starts, so that no update or readiness is missed; `start` spawns. */
  constructor(options: WorkerPoolOptions) {
    this.options = options;
    this.settings = options.settings;
    this.restartPolicy = { ...DEFAULT_RESTARTS, ...options.restarts };
    options.view.onUpdate((update, serial) => this.broadcast({ type: 'view', update, serial }));
  }

  /** Resolves, with where they listen, once every worker listens; rejects if one cannot, or another socket holds a port. */
  async start(): Promise<BoundListen[]> {
    await ensureAddressesFree(this.options.listen);
    const bound = await this.spawn(0, this.options.listen);
    this.bound = bound;
    await Promise.all(Array.from({ length: this.options.count - 1 }, (_, i) => this.spawn(i + 1, bound)));
    return bound;
  }

  /** Starts worker `index` (again) with the view, settings and readiness as they are now. */
  private spawn(index: number, listen: BoundListen[]): Promise<BoundListen[]> {
    const { view, count, log } = this.options;
    const start: WorkerStart = { index, threads: count, settings: this.settings, snapshot: view.snapshot(), serial: view.serial, ready: this.ready, listen, udpIo: this.options.udpIo, cookieSecret: cookieSecret() };
    const worker = new Worker(WORKER_URL, { workerData: start, name: `lbdns-worker-${index}` });
    const entry: ServingWorker = { worker, stopping: false, alive: true, lastStats: null };
    this.workers[index] = entry;
    return new Promise((resolve, reject) => {
      let listening = false;
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'listening') {
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
      this.spawn(index, this.bound ?? this.options.listen).then(
        () => log.info({ worker: index }, 'serving worker restarted'),
        (error: Error) => onFailure(index, `restarted, but it could not listen: ${error.message}`),
      );
    }, delayMs);
    this.restartTimers.add(timer);
  }

  /** For tests: worker `index`'s thread, to end it as a crash would. */
  workerThreadForTests(index: number): Worker | undefined {
    return this.workers[index]?.worker;
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

  /** The last numbers of every worker. */
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
