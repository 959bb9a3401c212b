/**
 * Response rate limiting (as BIND's RRL): identical UDP responses to one client prefix beyond a
 * rate are dropped, and every `slip`-th of those is sent truncated instead, so a real client
 * retries over TCP while a spoofed victim gets no amplification. TCP is never limited.
 */
import { LRUCache } from 'lru-cache';
import { clientPrefixKey } from '../net/cidr.ts';

export interface RateLimitSettings {
  responsesPerSecond: number;
  slip: number;
  ipv4PrefixLength: number;
  ipv6PrefixLength: number;
}

export type RateDecision = 'send' | 'slip' | 'drop';

interface Bucket {
  tokens: number;
  updated: number;
  limited: number;
}

export class ResponseRateLimiter {
  private readonly settings: RateLimitSettings;
  private readonly buckets = new LRUCache<string, Bucket>({ max: 100_000 });
  dropped = 0;
  slipped = 0;

  constructor(settings: RateLimitSettings) {
    this.settings = settings;
  }

  /** `answerKey` identifies the response (name, type, rcode). */
  decide(client: string, answerKey: string, now = Date.now()): RateDecision {
    const rate = this.settings.responsesPerSecond;
    const key = `${clientPrefixKey(client, this.settings.ipv4PrefixLength, this.settings.ipv6PrefixLength)} ${answerKey}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: rate, updated: now, limited: 0 };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.updated) / 1000) * rate);
    bucket.updated = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 'send';
    }
    bucket.limited++;
    if (this.settings.slip > 0 && bucket.limited % this.settings.slip === 0) {
      this.slipped++;
      return 'slip';
    }
    this.dropped++;
    return 'drop';
  }
}
