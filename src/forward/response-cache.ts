/**
 * Upstream answers by (name, type, class, DO bit), positive and negative in separately sized LRUs
 * (lru-cache). Served copies count their TTLs down; expired entries stay for serve-stale.
 */
import { LRUCache } from 'lru-cache';
import { Flag, HEADER_SIZE } from '../wire/constants.ts';
import type { Query } from '../wire/query.ts';
import type { UpstreamResponse } from './upstream-message.ts';
import { OPT_SIZE, writeOpt } from '../wire/header.ts';
import { EdnsOption } from '../wire/edns-options.ts';

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
 * counted down (or STALE_TTL), and for a client that sent EDNS lbdns's own OPT record in place of
 * the upstream's (lbdns's size, the upstream's extended rcode, flags and options, the client's
 * cookie and NSID). When it does not fit the client's size, the additional records are left out
 * first (RFC 2181 §9); only when the rest does not fit either is it cut to the question with TC,
 * the OPT record kept, so the client still sees EDNS.
 */
export function renderForClient(response: UpstreamResponse, request: Buffer, query: Query, elapsedSeconds: number, stale: boolean, limit: number, advertisedUdpSize: number): Buffer {
  const opt = response.opt;
  // The upstream's records without its OPT record (scrub.ts puts that last).
  const bodyEnd = opt ? opt.start : response.bytes.length;
  const clientOpt = query.edns ? optForClient(response, query, advertisedUdpSize) : null;
  const optLength = clientOpt?.length ?? 0;
  const additionalCount = response.bytes.readUInt16BE(10) - (opt ? 1 : 0);
  let end = bodyEnd;
  let truncated = false;
  if (bodyEnd + optLength > limit) {
    if (response.additionalAt + optLength <= limit) end = response.additionalAt;
    else {
      end = response.questionEnd;
      truncated = true;
    }
  }
  const bytes = Buffer.allocUnsafe(end + optLength);
  response.bytes.copy(bytes, 0, 0, end);
  bytes.writeUInt16BE(query.id, 0);
  const flags = bytes.readUInt16BE(2);
  bytes.writeUInt16BE((flags & ~Flag.RD) | (query.flags & Flag.RD) | (truncated ? Flag.TC : 0), 2);
  // The client's own question (its letter case) when it is the same length as lbdns's, as it is
  // for the same name written without compression; records point into it (scrub.ts).
  if (query.questionEnd === response.questionEnd) request.copy(bytes, HEADER_SIZE, HEADER_SIZE, query.questionEnd);
  if (truncated) bytes.writeUInt32BE(0, 6);
  bytes.writeUInt16BE((end === bodyEnd ? additionalCount : 0) + (clientOpt ? 1 : 0), 10);
  for (const at of response.ttlOffsets) {
    if (at >= end) break;
    const ttl = bytes.readUInt32BE(at);
    bytes.writeUInt32BE(stale ? Math.min(ttl, STALE_TTL) : Math.max(0, Math.floor(ttl - elapsedSeconds)), at);
  }
  if (clientOpt) clientOpt.copy(bytes, end);
  return bytes;
}

/**
 * The OPT record a client with EDNS gets: lbdns's UDP size, the upstream's extended rcode and
 * flags (DO) if it sent an OPT record, else the client's DO; the upstream's options but its own
 * NSID and cookie (never asked for, and not the client's), then the client's cookie and NSID.
 */
function optForClient(response: UpstreamResponse, query: Query, advertisedUdpSize: number): Buffer {
  const opt = response.opt;
  const upstream = response.bytes;
  const kept: Buffer[] = [];
  if (opt) {
    // Root owner (1), type, class, TTL (extended rcode, version, flags), RDLENGTH: options from opt.start + 11.
    for (let at = opt.start + 11; at + 4 <= opt.end; ) {
      const code = upstream.readUInt16BE(at);
      const next = Math.min(opt.end, at + 4 + upstream.readUInt16BE(at + 2));
      if (code !== EdnsOption.NSID && code !== EdnsOption.COOKIE) kept.push(upstream.subarray(at, next));
      at = next;
    }
  }
  if (query.replyOptions) kept.push(query.replyOptions);
  const options = kept.length === 0 ? undefined : kept.length === 1 ? kept[0] : Buffer.concat(kept);
  const out = Buffer.allocUnsafe(OPT_SIZE + (options?.length ?? 0));
  const extendedRcode = opt ? upstream[opt.start + 5]! << 4 : 0;
  const dnssecOk = opt ? (upstream[opt.start + 7]! & 0x80) !== 0 : (query.edns?.dnssecOk ?? false);
  writeOpt(out, 0, advertisedUdpSize, dnssecOk, extendedRcode, options);
  return out;
}
