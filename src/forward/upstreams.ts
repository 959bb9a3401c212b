/**
 * Upstream servers and how one is chosen (CoreDNS forward's random, round_robin and sequential),
 * skipping those that failed recently until their hold-down ends.
 */
import { readFileSync } from 'node:fs';
import { formatHostPort, parseServerAddress } from '../net/host-port.ts';
import { shuffleInPlace } from '../balance/shuffle.ts';
import { Buckets, DURATION_BUCKETS } from '../util/histogram.ts';

export interface Upstream {
  host: string;
  port: number;
  family: 4 | 6;
  label: string;
  failures: number;
  downUntil: number;
  /** Totals, for metrics. */
  requests: number;
  errors: number;
  /** Seconds spent waiting for this upstream's answers, summed (with `requests`, the mean latency). */
  seconds: number;
  /** The answers it sent, by rcode: how long each took. */
  answers: Map<number, Buckets>;
}

/** An answer from `upstream` with this rcode, `seconds` after it was asked. */
export function answered(upstream: Upstream, rcode: number, seconds: number): void {
  let buckets = upstream.answers.get(rcode);
  if (buckets === undefined) upstream.answers.set(rcode, (buckets = new Buckets(DURATION_BUCKETS)));
  buckets.observe(seconds);
}

export type UpstreamPolicy = 'random' | 'round_robin' | 'sequential';

/** "ADDR", "ADDR:PORT", "[V6]:PORT" or a bare IPv6 address. */
export function parseUpstream(text: string): Upstream {
  const address = parseServerAddress(text);
  return { ...address, family: address.host.includes(':') ? 6 : 4, label: formatHostPort(address), failures: 0, downUntil: 0, requests: 0, errors: 0, seconds: 0, answers: new Map() };
}

/** The nameservers of a resolv.conf, as CoreDNS's `forward . /etc/resolv.conf` reads them. */
export function resolvConfUpstreams(path: string): Upstream[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const upstreams: Upstream[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!match) continue;
    try {
      upstreams.push(parseUpstream((match[1] as string).split('%')[0] as string));
    } catch {
      // A link-local or malformed entry is skipped, as resolvers do.
    }
  }
  return upstreams;
}

export class UpstreamPool {
  readonly upstreams: Upstream[];
  private readonly policy: UpstreamPolicy;
  private readonly maxFails: number;
  private readonly holdDownMs: number;
  private next = 0;

  constructor(upstreams: Upstream[], policy: UpstreamPolicy, maxFails: number, holdDownMs: number) {
    this.upstreams = upstreams;
    this.policy = policy;
    this.maxFails = maxFails;
    this.holdDownMs = holdDownMs;
  }

  /** Upstreams in the order to try them: healthy ones by policy, then those held down. */
  candidates(now = Date.now()): Upstream[] {
    const list = [...this.upstreams];
    if (this.policy === 'random') {
      shuffleInPlace(list);
    } else if (this.policy === 'round_robin' && list.length > 0) {
      const start = this.next++ % list.length;
      list.push(...list.splice(0, start));
    }
    const healthy = list.filter((u) => u.downUntil <= now);
    const down = list.filter((u) => u.downUntil > now);
    return [...healthy, ...down];
  }

  succeeded(upstream: Upstream): void {
    upstream.failures = 0;
    upstream.downUntil = 0;
  }

  failed(upstream: Upstream, now = Date.now()): void {
    upstream.errors++;
    upstream.failures++;
    if (upstream.failures >= this.maxFails) upstream.downUntil = now + this.holdDownMs;
  }
}
