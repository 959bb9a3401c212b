/**
 * Upstream answers by (name, type, class, DO bit), positive and negative in separately sized LRUs
 * (lru-cache). Served copies count their TTLs down; expired entries stay for serve-stale.
 */
import { LRUCache } from 'lru-cache';
import { Flag, HEADER_SIZE } from '../wire/constants.ts';
import type { Query } from '../wire/query.ts';
import type { UpstreamResponse } from './upstream-message.ts';
import { writeTruncated } from '../wire/message.ts';

export interface CacheSettings {
  maxTtl: number;
  negativeMaxTtl: number;
  positiveSize: number;
  negativeSize: number;
  /** Seconds an expired answer may still be served when every upstream fails (0: never). */
  serveStale: number;
}

export interface CachedAnswer {
  response: UpstreamResponse;
  storedAt: number;
  /** Seconds the answer is fresh for (its TTL, capped). */
  ttl: number;
  hits: number;
}

/** RFC 8767 §4: stale answers go out with a short TTL, so clients come back soon. */
export const STALE_TTL = 30;

/** The class is part of it: a class ANY answer is not a class IN one. */
export function cacheKey(query: Query): string {
  return `${query.qtype} ${query.qclass} ${query.edns?.dnssecOk ? 1 : 0} ${query.qname}`;
}

export class ResponseCache {
  private readonly positive: LRUCache<string, CachedAnswer> | null;
  private readonly negative: LRUCache<string, CachedAnswer> | null;
  private readonly settings: CacheSettings;

  constructor(settings: CacheSettings) {
    this.settings = settings;
    this.positive = settings.positiveSize > 0 ? new LRUCache({ max: settings.positiveSize }) : null;
    this.negative = settings.negativeSize > 0 ? new LRUCache({ max: settings.negativeSize }) : null;
  }

  get size(): { positive: number; negative: number } {
    return { positive: this.positive?.size ?? 0, negative: this.negative?.size ?? 0 };
  }

  store(key: string, response: UpstreamResponse, now = Date.now()): void {
    if (!response.cache) return;
    const negative = response.cache.kind === 'negative';
    const ttl = Math.min(response.cache.ttl, negative ? this.settings.negativeMaxTtl : this.settings.maxTtl);
    if (ttl <= 0) return;
    const entry: CachedAnswer = { response, storedAt: now, ttl, hits: 0 };
    (negative ? this.negative : this.positive)?.set(key, entry);
    (negative ? this.positive : this.negative)?.delete(key);
  }

  /** The entry and whether it is fresh, or stale but still servable; undefined when neither. */
  lookup(key: string, now = Date.now()): { entry: CachedAnswer; fresh: boolean } | undefined {
    const entry = this.positive?.get(key) ?? this.negative?.get(key);
    if (!entry) return undefined;
    const age = (now - entry.storedAt) / 1000;
    if (age < entry.ttl) return { entry, fresh: true };
    if (age < entry.ttl + this.settings.serveStale) return { entry, fresh: false };
    return undefined;
  }
}

/** Seconds left of a cached answer's life. */
export function remainingTtl(entry: CachedAnswer, now = Date.now()): number {
  return entry.ttl - (now - entry.storedAt) / 1000;
}

/**
 * The client's copy of an upstream answer: its ID and question (with its letter case), TTLs
 * counted down (or STALE_TTL), OPT kept only for a client that sent one, and cut to the
 * client's size with TC when it does not fit.
 */
export function renderForClient(response: UpstreamResponse, request: Buffer, query: Query, elapsedSeconds: number, stale: boolean, limit: number, advertisedUdpSize: number): Buffer {
  let bytes = response.bytes;
  let arcountDelta = 0;
  const opt = response.opt;
  if (opt && !query.edns) {
    bytes = Buffer.concat([bytes.subarray(0, opt.start), bytes.subarray(opt.end)]);
    arcountDelta = -1;
  } else {
    bytes = Buffer.from(bytes);
  }
  bytes.writeUInt16BE(query.id, 0);
  const flags = bytes.readUInt16BE(2);
  bytes.writeUInt16BE((flags & ~Flag.RD) | (query.flags & Flag.RD), 2);
  // The client's own question (its letter case) when it is the same length as lbdns's, as it is
  // for the same name written without compression; records point into it (scrub.ts).
  if (query.questionEnd === response.questionEnd) request.copy(bytes, HEADER_SIZE, HEADER_SIZE, query.questionEnd);
  if (arcountDelta) bytes.writeUInt16BE(bytes.readUInt16BE(10) + arcountDelta, 10);
  const cut = opt && !query.edns ? opt.end - opt.start : 0;
  for (const offset of response.ttlOffsets) {
    const at = opt && !query.edns && offset > opt.start ? offset - cut : offset;
    const ttl = bytes.readUInt32BE(at);
    bytes.writeUInt32BE(stale ? Math.min(ttl, STALE_TTL) : Math.max(0, Math.floor(ttl - elapsedSeconds)), at);
  }
  if (opt && query.edns) bytes.writeUInt16BE(advertisedUdpSize, opt.start + 3);
  return bytes.length <= limit ? bytes : writeTruncated(bytes, query.questionEnd);
}
