/**
 * Names outside the served zones: answered from the response cache when it can (synchronously),
 * else from an upstream, with identical concurrent misses sharing one upstream query, caps on
 * upstream queries in flight (per client prefix and in all), stub domains (longest suffix wins),
 * failover on SERVFAIL/REFUSED/NOTIMP, serve-stale and prefetch.
 */
import type { Logger } from 'pino';
import { CLASSIC_UDP_LIMIT, CLASS_IN, HEADER_SIZE, RCode } from '../wire/constants.ts';
import { NameError, encodeName, isAtOrBelow } from '../wire/name.ts';
import { parseQuery } from '../wire/query.ts';
import { writeBareResponse } from '../wire/message.ts';
import type { Query } from '../wire/query.ts';
import type { Settings } from '../settings/schema.ts';
import { exchange } from './exchange.ts';
import { type CachedAnswer, ResponseCache, cacheKey, remainingTtl, renderForClient } from './response-cache.ts';
import type { UpstreamResponse } from './upstream-message.ts';
import { type Upstream, UpstreamPool, answered, parseUpstream, resolvConfUpstreams } from './upstreams.ts';
import { REFRESH_HOLDER, UpstreamSlots } from './upstream-slots.ts';
import type { ExchangeOptions } from './exchange.ts';

class Overloaded extends Error {}

export interface ForwardStats {
  cacheHits: number;
  /** Of cacheHits, those of negative answers (NXDOMAIN, NODATA). */
  cacheDenialHits: number;
  cacheMisses: number;
  staleServed: number;
  /** Queries refused because their client or the forwarder had no upstream slot left. */
  overloaded: number;
  /** Queries sent to an upstream held down because every upstream was (CoreDNS: healthcheck broken). */
  allDown: number;
}

/** After a failed refresh, a stale answer is served at once for this long, refreshed in the background. */
const STALE_FAST_PATH_MS = 30_000;

/** Answers that say "this upstream could not", not "this name is so": another upstream may do better. */
const FAILOVER_RCODES: ReadonlySet<number> = new Set([RCode.SERVFAIL, RCode.NOTIMP, RCode.REFUSED]);

export class Forwarder {
  private readonly settings: Settings;
  private readonly log: Logger;
  private readonly defaultPool: UpstreamPool;
  private readonly stubPools: Array<{ domain: string; pool: UpstreamPool }>;
  private readonly cache: ResponseCache;
  private readonly inflight = new Map<string, Promise<UpstreamResponse>>();
  private readonly failedAt = new Map<string, number>();
  private readonly slots: UpstreamSlots;
  private readonly exchangeOptions: ExchangeOptions;
  readonly stats: ForwardStats = { cacheHits: 0, cacheDenialHits: 0, cacheMisses: 0, staleServed: 0, overloaded: 0, allDown: 0 };

  constructor(settings: Settings, log: Logger) {
    this.settings = settings;
    this.log = log.child({ part: 'forward' });
    const f = settings.forward;
    const pool = (list: string[]) => new UpstreamPool(list.map(parseUpstream), f.policy, f.maxFails, f.holdDownSeconds * 1000);
    this.defaultPool = f.upstreams.length > 0 ? pool(f.upstreams) : new UpstreamPool(resolvConfUpstreams(f.resolvConf), f.policy, f.maxFails, f.holdDownSeconds * 1000);
    this.stubPools = Object.entries(f.stubDomains)
      .map(([domain, list]) => ({ domain: domain.toLowerCase().replace(/\.$/, ''), pool: pool(list) }))
      .sort((a, b) => b.domain.length - a.domain.length);
    this.cache = new ResponseCache(settings.cache);
    this.slots = new UpstreamSlots({ total: f.maxConcurrent, perClient: f.maxConcurrentPerClient, ipv4PrefixLength: f.ipv4PrefixLength, ipv6PrefixLength: f.ipv6PrefixLength });
    this.exchangeOptions = {
      timeoutMs: f.timeoutMs,
      udpSize: settings.maxUdpSize,
      scrub: { clusterZones: settings.zones, reverseZones: settings.reverse.zones, maxTtl: settings.cache.maxTtl },
    };
    this.log.info(
      { upstreams: this.defaultPool.upstreams.map((u) => u.label), stubDomains: this.stubPools.map((s) => s.domain), policy: f.policy },
      this.defaultPool.upstreams.length > 0 ? 'forwarding names outside the served zones' : 'no upstream: names outside the served zones get SERVFAIL',
    );
  }

  get cacheSize(): { positive: number; negative: number } {
    return this.cache.size;
  }

  /** Every upstream, default and stub-domain ones, for metrics. */
  get upstreams(): Upstream[] {
    return [...this.defaultPool.upstreams, ...this.stubPools.flatMap((s) => s.pool.upstreams)];
  }

  /** The response to a query from `client` for a name outside the served zones: a Buffer on a cache hit. */
  answer(request: Buffer, query: Query, limit: number, client: string): Buffer | Promise<Buffer> {
    const key = cacheKey(query);
    const now = Date.now();
    const hit = this.cache.lookup(key, now);
    const advertised = this.settings.maxUdpSize;
    if (hit?.fresh) {
      this.stats.cacheHits++;
      if (hit.entry.response.cache?.kind === 'negative') this.stats.cacheDenialHits++;
      hit.entry.hits++;
      this.maybePrefetch(key, request, query, hit.entry, now);
      return renderForClient(hit.entry.response, request, query, (now - hit.entry.storedAt) / 1000, false, limit, advertised);
    }
    this.stats.cacheMisses++;
    if (hit && now - (this.failedAt.get(key) ?? -Infinity) < STALE_FAST_PATH_MS) {
      void this.resolve(key, request, query, REFRESH_HOLDER).catch(() => undefined);
      return this.serveStale(hit.entry, request, query, limit);
    }
    return this.miss(key, request, query, limit, hit?.entry, this.slots.holderOf(client));
  }

  /**
   * The upstream answer for a name lbdns asks about itself for `client` (autopath, ExternalName
   * targets; the query counts as the client's): from the cache, or upstream (coalesced, cached);
   * null when no upstream answers or the client has no slot left.
   */
  async lookupName(name: string, qtype: number, dnssecOk: boolean, client: string): Promise<UpstreamResponse | null> {
    let wireName: Buffer;
    try {
      wireName = encodeName(name);
    } catch (error) {
      if (error instanceof NameError) return null;
      throw error;
    }
    const request = Buffer.alloc(HEADER_SIZE + wireName.length + 4);
    request.writeUInt16BE(1, 4);
    wireName.copy(request, HEADER_SIZE);
    request.writeUInt16BE(qtype, HEADER_SIZE + wireName.length);
    request.writeUInt16BE(CLASS_IN, HEADER_SIZE + wireName.length + 2);
    const parsed = parseQuery(request);
    if (parsed.kind !== 'query') return null;
    const query: Query = { ...parsed.query, edns: dnssecOk ? { udpSize: CLASSIC_UDP_LIMIT, version: 0, dnssecOk } : null };
    const key = cacheKey(query);
    const hit = this.cache.lookup(key);
    if (hit?.fresh) return hit.entry.response;
    try {
      return await this.resolve(key, request, query, this.slots.holderOf(client));
    } catch {
      return hit?.entry.response ?? null;
    }
  }

  private async miss(key: string, request: Buffer, query: Query, limit: number, stale: CachedAnswer | undefined, holder: string): Promise<Buffer> {
    try {
      const response = await this.resolve(key, request, query, holder);
      return renderForClient(response, request, query, 0, false, limit, this.settings.maxUdpSize);
    } catch (error) {
      if (error instanceof Overloaded) return writeBareResponse(request, query, RCode.REFUSED, this.settings.maxUdpSize);
      if (stale) return this.serveStale(stale, request, query, limit);
      this.log.debug({ qname: query.qname, err: (error as Error).message }, 'every upstream failed');
      return writeBareResponse(request, query, RCode.SERVFAIL, this.settings.maxUdpSize);
    }
  }

  private serveStale(entry: CachedAnswer, request: Buffer, query: Query, limit: number): Buffer {
    this.stats.staleServed++;
    return renderForClient(entry.response, request, query, 0, true, limit, this.settings.maxUdpSize);
  }

  /** Popular entries are refreshed before they expire, so their clients never wait. */
  private maybePrefetch(key: string, request: Buffer, query: Query, entry: CachedAnswer, now: number): void {
    const prefetch = this.settings.cache.prefetch;
    if (prefetch.hits === 0 || entry.hits < prefetch.hits || this.inflight.has(key)) return;
    if (remainingTtl(entry, now) > Math.max(1, (entry.ttl * prefetch.percent) / 100)) return;
    void this.resolve(key, request, query, REFRESH_HOLDER).catch(() => undefined);
  }

  /**
   * One upstream query per key at a time: joining one in flight is free; starting one takes a
   * slot of `holder`'s (upstream-slots.ts), and without one, Overloaded.
   */
  private resolve(key: string, request: Buffer, query: Query, holder: string): Promise<UpstreamResponse> {
    const existing = this.inflight.get(key);
    if (existing) return existing;
    if (!this.slots.take(holder)) {
      this.stats.overloaded++;
      return Promise.reject(new Overloaded());
    }
    const promise = this.tryUpstreams(request, query)
      .then((response) => {
        this.failedAt.delete(key);
        this.cache.store(key, response);
        return response;
      })
      .catch((error: unknown) => {
        this.failedAt.set(key, Date.now());
        if (this.failedAt.size > 100_000) this.failedAt.clear();
        throw error;
      })
      .finally(() => {
        this.inflight.delete(key);
        this.slots.release(holder);
      });
    this.inflight.set(key, promise);
    return promise;
  }

  private poolFor(qname: string): UpstreamPool {
    for (const stub of this.stubPools) if (isAtOrBelow(qname, stub.domain)) return stub.pool;
    return this.defaultPool;
  }

  /**
   * The candidates in turn until one answers. With forward.failover, a SERVFAIL, NOTIMP or REFUSED
   * answer sends the query on to the next candidate once (as CoreDNS's failover); when that one
   * fails too, the last answer is relayed.
   */
  private async tryUpstreams(request: Buffer, query: Query): Promise<UpstreamResponse> {
    const pool = this.poolFor(query.qname);
    const candidates = pool.candidates();
    let lastError: unknown = new Error('no upstream configured');
    let failedAnswer: UpstreamResponse | null = null;
    if (candidates.length > 0 && candidates[0]!.downUntil > Date.now()) this.stats.allDown++;
    for (const [index, upstream] of candidates.entries()) {
      upstream.requests++;
      const started = performance.now();
      try {
        const response = await exchange(upstream, request, query, this.exchangeOptions);
        pool.succeeded(upstream);
        answered(upstream, response.rcode, (performance.now() - started) / 1000);
        const tryNext = this.settings.forward.failover && failedAnswer === null && index < candidates.length - 1 && FAILOVER_RCODES.has(response.rcode);
        if (!tryNext) return response;
        failedAnswer = response;
      } catch (error) {
        pool.failed(upstream);
        lastError = error;
      } finally {
        upstream.seconds += (performance.now() - started) / 1000;
      }
    }
    if (failedAnswer) return failedAnswer;
    throw lastError;
  }
}
