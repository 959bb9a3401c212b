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

  /**
   * `answerKey` identifies the response (name, type, rcode). `now` is in milliseconds of a
   * monotonic clock: a wall clock stepped back would put every bucket in debt for the step.
   */
  decide(client: string, answerKey: string, now = performance.now()): RateDecision {
    const rate = this.settings.responsesPerSecond;
    // A bucket holds one second's worth, and at least one response, so a rate below 1/s still sends.
    const capacity = Math.max(1, rate);
    const key = `${clientPrefixKey(client, this.settings.ipv4PrefixLength, this.settings.ipv6PrefixLength)} ${answerKey}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: capacity, updated: now, limited: 0 };
      this.buckets.set(key, bucket);
    }
    // Time that went backwards refills nothing, and counts again from where it now stands.
    bucket.tokens = Math.min(capacity, bucket.tokens + (Math.max(0, now - bucket.updated) / 1000) * rate);
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
