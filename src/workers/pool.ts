/**
 * The serving workers, seen from the primary thread, which keeps the one source (API watch or
 * objects file), the settings and the ops listener, and ships every view update to each worker.
 * Worker 0 binds first, so ports given as 0 are known before the others share them.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Settings } from '../settings/schema.ts';
import type { ClusterView } from '../view/cluster-view.ts';
import type { BoundListen, ServingStats } from '../server/serving.ts';
import type { FromWorker, ToWorker, WorkerStart } from './messages.ts';
import { ensureAddressesFree } from '../server/port-probe.ts';

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './serving-worker.ts' : './serving-worker.js', import.meta.url);
/** How long a scrape waits for a worker's numbers before using the last ones it sent. */
const STATS_TIMEOUT_MS = 1000;
const STOP_TIMEOUT_MS = 2000;

interface ServingWorker {
  worker: Worker;
  stopping: boolean;
  lastStats: ServingStats | null;
}

export interface WorkerPoolOptions {
  count: number;
  settings: Settings;
  view: ClusterView;
  listen: BoundListen[];
  log: Logger;
  /** A worker died (a bug, or out of memory): the process cannot serve its share of the port. */
  onFailure: (index: number, reason: string) => void;
}

export class WorkerPool {
  private readonly workers: ServingWorker[] = [];
  private readonly options: WorkerPoolOptions;
  private settings: Settings;
  private ready = false;
  private nextStatsId = 0;

  /** Made before the source starts, so that no update or readiness is missed; `start` spawns. */
  constructor(options: WorkerPoolOptions) {
    this.options = options;
    this.settings = options.settings;
    options.view.onUpdate((update, serial) => this.broadcast({ type: 'view', update, serial }));
  }

  /** Resolves, with where they listen, once every worker listens; rejects if one cannot, or another socket holds a port. */
  async start(): Promise<BoundListen[]> {
    await ensureAddressesFree(this.options.listen);
    const bound = await this.spawn(0, this.options.listen);
    await Promise.all(Array.from({ length: this.options.count - 1 }, (_, i) => this.spawn(i + 1, bound)));
    return bound;
  }

  private spawn(index: number, listen: BoundListen[]): Promise<BoundListen[]> {
    const { view, count, log, onFailure } = this.options;
    const start: WorkerStart = { index, threads: count, settings: this.settings, snapshot: view.snapshot(), serial: view.serial, ready: this.ready, listen };
    const worker = new Worker(WORKER_URL, { workerData: start, name: `lbdns-worker-${index}` });
    const entry: ServingWorker = { worker, stopping: false, lastStats: null };
    this.workers.push(entry);
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
        if (!listening) reject(new Error(`serving worker ${index} exited with code ${code} before it listened`));
        else if (!entry.stopping) onFailure(index, `exited with code ${code}`);
      });
    });
  }

  private broadcast(message: ToWorker): void {
    for (const { worker } of this.workers) worker.postMessage(message);
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
      this.workers.map(
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

  /** Closes every worker's sockets, then ends the threads. */
  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(async (entry) => {
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
