/**
 * List + watch of one kind, kept going whatever the API server does. `@kubernetes/client-node`'s
 * informer stops for good on any error but a 410 and never asks for bookmarks, so lbdns drives
 * its lists and watches itself (api-get.ts):
 * - resume from the last resourceVersion after a clean close; bookmarks keep that version fresh;
 * - re-list on 410 Gone (an ERROR event or a 410 response), dropping what the new list lacks;
 * - exponential backoff with full jitter on errors, and for watches that close at once without
 *   events (the reconnect storms of kubernetes-client/javascript#1933);
 * - a watch silent for longer than `idleMs` (no event, no bookmark) is aborted and resumed
 *   (the hung watches of #596 and #958).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { watchEvents } from './api-get.ts';
import type { Logger } from 'pino';
import type { Metrics } from '../../ops/metrics.ts';
import type { WatchedKind } from '../../view/types.ts';
import { backoffDelay } from '../../util/backoff.ts';


export interface ListPage {
  items: unknown[];
  resourceVersion: string;
  continueToken: string | undefined;
}

export interface KindApi {
  kind: WatchedKind;
  /** The cluster-wide collection path, e.g. /api/v1/services. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  list(config: KubeConfig, params: { limit: number; continueToken?: string; labelSelector?: string; fieldSelector?: string }): Promise<ListPage>;
}

export interface ReflectorSink {
  upsert(kind: WatchedKind, object: unknown): void;
  remove(kind: WatchedKind, namespace: string, name: string): void;
}

export interface ReflectorOptions {
  pageSize: number;
  idleMs: number;
  /** Called on 401/403, so credentials can be read again (rotated tokens). */
  onUnauthorized?: () => void;
  /** Backoff bounds in milliseconds. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

interface ObjectMeta {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
}

function metaOf(object: unknown): ObjectMeta {
  return ((object as { metadata?: ObjectMeta } | null)?.metadata ?? {}) as ObjectMeta;
}

function keyOf(meta: ObjectMeta): string {
  return `${meta.namespace ?? ''}/${meta.name ?? ''}`;
}

/** The HTTP status an error carries, from a list (ApiException) or a watch (WatchStatusError), or 0. */
export function statusOf(error: unknown): number {
  const e = error as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.code === 'number') return e.code;
  return 0;
}

/**
 * One line an operator can act on. The client's ApiException message spans several lines
 * (code, body, headers); the status code says what matters.
 */
export function describeApiError(error: unknown, what: string): string {
  const code = statusOf(error);
  if (code === 401) return `401 Unauthorized: the API server rejected lbdns's credentials; check the token (service account or kubeconfig)`;
  if (code === 403) return `403 Forbidden: lbdns may not list/watch ${what}; check its ClusterRole and binding`;
  const first = String((error as Error)?.message ?? error).split('\n')[0] ?? '';
  const cause = (error as { cause?: { message?: string; code?: string } } | null)?.cause;
  const detail = cause?.code ?? cause?.message;
  return code ? `HTTP ${code}: ${first}` : detail ? `${first} (${detail})` : first;
}

class WatchFailure extends Error {
  readonly statusCode: number;
  constructor(message: string, statusCode: number) {
    super(message);
    this.statusCode = statusCode;
  }
}

type WatchEnd = { reason: 'closed' | 'idle' | 'expired'; events: number };

export class Reflector {
  readonly kind: WatchedKind;
  /** True once the first list completed; stays true through later outages. */
  synced = false;
  /** False while requests fail; the view then holds the last known state. */
  healthy = true;
  resourceVersion = '';
  lastEventAt = 0;

  private readonly api: KindApi;
  private readonly sink: ReflectorSink;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly options: Required<Omit<ReflectorOptions, 'onUnauthorized'>> & Pick<ReflectorOptions, 'onUnauthorized'>;
  private readonly configSource: () => KubeConfig;
  private readonly onStateChange: () => void;
  private known = new Map<string, string>();
  private stopped = false;
  private abortWatch: { abort: () => void } | null = null;
  private wake: (() => void) | null = null;

  constructor(api: KindApi, sink: ReflectorSink, configSource: () => KubeConfig, log: Logger, metrics: Metrics, options: ReflectorOptions, onStateChange: () => void) {
    this.api = api;
    this.kind = api.kind;
    this.sink = sink;
    this.configSource = configSource;
    this.log = log.child({ kind: api.kind });
    this.metrics = metrics;
    this.options = { backoffBaseMs: 500, backoffMaxMs: 30_000, ...options };
    this.onStateChange = onStateChange;
  }

  stop(): void {
    this.stopped = true;
    this.abortWatch?.abort();
    this.wake?.();
  }

  /** Runs until stop(); never rejects. */
  async run(): Promise<void> {
    let failures = 0;
    let relistReason = 'initial';
    while (!this.stopped) {
      try {
        if (this.resourceVersion === '') {
          await this.relist(relistReason);
          failures = 0;
        }
        const started = Date.now();
        this.log.info({ resourceVersion: this.resourceVersion }, 'watch started');
        const end = await this.watchOnce();
        if (this.stopped) return;
        this.setHealthy(true);
        if (end.reason === 'expired') {
          this.log.info({ resourceVersion: this.resourceVersion }, 'resourceVersion expired (410); listing again');
          this.resourceVersion = '';
          relistReason = 'expired';
          continue;
        }
        this.metrics.watchRestarts.inc({ kind: this.kind, reason: end.reason });
        if (end.reason === 'idle') this.log.warn({ resourceVersion: this.resourceVersion, idleSeconds: this.options.idleMs / 1000 }, 'watch silent for too long; restarting it');
        // A watch that ends at once with nothing in it must not turn into a reconnect storm.
        const productive = end.events > 0 || Date.now() - started > 5_000;
        failures = productive ? 0 : failures + 1;
        if (failures > 0) await this.sleep(this.backoff(failures));
      } catch (error) {
        if (this.stopped) return;
        failures++;
        const code = statusOf(error);
        this.metrics.apiErrors.inc({ kind: this.kind, code: String(code) });
        this.setHealthy(false);
        if (code === 410) {
          this.resourceVersion = '';
          relistReason = 'expired';
        } else if (this.resourceVersion === '') {
          relistReason = 'error';
        }
        if (code === 401 || code === 403) this.options.onUnauthorized?.();
        const delayMs = this.backoff(failures);
        this.log.error({ err: describeApiError(error, this.kind), code, resourceVersion: this.resourceVersion, retryInMs: Math.round(delayMs) }, 'Kubernetes API request failed; retrying');
        this.metrics.watchRestarts.inc({ kind: this.kind, reason: 'error' });
        await this.sleep(delayMs);
      }
    }
  }

  private setHealthy(healthy: boolean): void {
    if (this.healthy === healthy) return;
    this.healthy = healthy;
    this.onStateChange();
  }

  private backoff(failures: number): number {
    return backoffDelay(failures, { baseMs: this.options.backoffBaseMs, maxMs: this.options.backoffMaxMs, jitter: true });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  private noteEvent(): void {
    this.lastEventAt = Date.now();
    this.metrics.lastEvent.set(this.lastEventAt / 1000);
  }

  /** A full, paginated list; objects it lacks are deleted from the view, so nothing stale survives. */
  private async relist(reason: string): Promise<void> {
    this.metrics.relists.inc({ kind: this.kind, reason });
    this.log.info({ reason }, 'listing');
    const config = this.configSource();
    const seen = new Map<string, string>();
    let resourceVersion = '';
    const list = (continueToken?: string) => this.api.list(config, { limit: this.options.pageSize, continueToken, labelSelector: this.api.labelSelector, fieldSelector: this.api.fieldSelector });
    let next: Promise<ListPage> | null = list();
    while (next !== null) {
      const page: ListPage = await next;
      // The next page is asked for before this one is taken in: the API server (and the network)
      // prepare it while lbdns slims this one, instead of each waiting for the other.
      next = page.continueToken && !this.stopped ? list(page.continueToken) : null;
      if (resourceVersion === '') resourceVersion = page.resourceVersion;
      for (const item of page.items) {
        const meta = metaOf(item);
        const key = keyOf(meta);
        seen.set(key, meta.resourceVersion ?? '');
        if (this.known.get(key) !== meta.resourceVersion) this.deliver(() => this.sink.upsert(this.kind, item));
      }
      this.noteEvent();
      if (this.stopped && next !== null) {
        // Stopped meanwhile: the page asked for is not wanted, nor its failure.
        next.catch(() => {});
        next = null;
      }
    }
    let removed = 0;
    for (const key of this.known.keys()) {
      if (seen.has(key)) continue;
      const slash = key.indexOf('/');
      this.deliver(() => this.sink.remove(this.kind, key.slice(0, slash), key.slice(slash + 1)));
      removed++;
    }
    this.known = seen;
    this.resourceVersion = resourceVersion;
    this.log.info({ resourceVersion, objects: seen.size, removed }, 'listed');
    this.setHealthy(true);
    if (!this.synced) {
      this.synced = true;
      this.metrics.synced.set({ kind: this.kind }, 1);
      this.onStateChange();
    }
  }

  /** A bad object is logged and skipped; it must not stop the watch. */
  private deliver(apply: () => void): void {
    try {
      apply();
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'object skipped');
    }
  }

  private watchOnce(): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve, reject) => {
      let events = 0;
      let expired = false;
      let failure: WatchFailure | null = null;
      const query = {
        allowWatchBookmarks: 'true',
        resourceVersion: this.resourceVersion,
        // Spread reconnects of many replicas over time, as client-go does.
        timeoutSeconds: String(300 + Math.floor(Math.random() * 300)),
        labelSelector: this.api.labelSelector,
        fieldSelector: this.api.fieldSelector,
      };
      const onEvent = (type: string, object: unknown): void => {
        events++;
        this.noteEvent();
        if (type === 'ERROR') {
          const status = object as { code?: number; message?: string };
          if (status.code === 410) expired = true;
          else failure = new WatchFailure(status.message ?? 'watch error event', status.code ?? 0);
          this.abortWatch?.abort();
          return;
        }
        const meta = metaOf(object);
        if (meta.resourceVersion) this.resourceVersion = meta.resourceVersion;
        if (type === 'BOOKMARK') return;
        const key = keyOf(meta);
        if (type === 'DELETED') {
          this.known.delete(key);
          this.deliver(() => this.sink.remove(this.kind, meta.namespace ?? '', meta.name ?? ''));
        } else if (type === 'ADDED' || type === 'MODIFIED') {
          this.known.set(key, meta.resourceVersion ?? '');
          this.deliver(() => this.sink.upsert(this.kind, object));
        }
      };
      let finished = false;
      const onDone = (error: Error | null): void => {
        finished = true;
        this.abortWatch = null;
        if (expired) return resolve({ reason: 'expired', events });
        if (failure) return reject(failure);
        if (this.stopped) return resolve({ reason: 'closed', events });
        // Silent for idleMs (no event, no bookmark): lbdns's guard against hung watches.
        if (error?.name === 'TimeoutError') return resolve({ reason: 'idle', events });
        if (error) return reject(error);
        resolve({ reason: 'closed', events });
      };
      watchEvents(this.configSource(), this.api.path, query, this.options.idleMs, onEvent, onDone).then(
        (controller) => {
          if (finished) return;
          // Resolved once the API server answered 200: the watch is live again.
          this.abortWatch = controller;
          this.setHealthy(true);
          if (this.stopped) controller.abort();
        },
        reject,
      );
    });
  }
}
