/**
 * ResponseRateLimiter with its clock in the test's hands: a token bucket per client prefix and
 * answer, refilled at the rate and never above it, every slip-th limited response slipped, and a
 * bounded table of buckets.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseRateLimiter, type RateLimitSettings } from '../../src/server/rate-limit.ts';

const SETTINGS: RateLimitSettings = { responsesPerSecond: 2, slip: 0, ipv4PrefixLength: 32, ipv6PrefixLength: 128 };
const ANSWER = '1 example.com forward';

/** The decisions for `count` responses of one answer to `client`, all at `now`. */
function burst(limiter: ResponseRateLimiter, client: string, count: number, now: number, answer = ANSWER): string[] {
  return Array.from({ length: count }, () => limiter.decide(client, answer, now));
}

describe('ResponseRateLimiter: the bucket', () => {
  it('sends the rate at once, then limits until time refills it', () => {
    const limiter = new ResponseRateLimiter(SETTINGS);
    assert.deepEqual(burst(limiter, '10.0.0.1', 4, 0), ['send', 'send', 'drop', 'drop']);
    assert.deepEqual(burst(limiter, '10.0.0.1', 2, 499), ['drop', 'drop'], 'just under one token after 499 ms');
    assert.deepEqual(burst(limiter, '10.0.0.1', 2, 500), ['send', 'drop'], 'one token after 500 ms');
    assert.deepEqual(burst(limiter, '10.0.0.1', 2, 1500), ['send', 'send']);
  });

  it('never saves up more than one second of the rate', () => {
    const limiter = new ResponseRateLimiter(SETTINGS);
    burst(limiter, '10.0.0.1', 2, 0);
    assert.deepEqual(burst(limiter, '10.0.0.1', 3, 60_000), ['send', 'send', 'drop'], 'a quiet minute is worth one second');
  });

  it('does not refill from a clock that goes back', () => {
    const limiter = new ResponseRateLimiter(SETTINGS);
    burst(limiter, '10.0.0.1', 2, 10_000);
    assert.deepEqual(burst(limiter, '10.0.0.1', 1, 5_000), ['drop']);
  });

  it('refills as usual after the clock steps back', () => {
    const limiter = new ResponseRateLimiter(SETTINGS);
    burst(limiter, '10.0.0.1', 2, 3_600_000);
    burst(limiter, '10.0.0.1', 1, 0);
    assert.deepEqual(burst(limiter, '10.0.0.1', 2, 1000), ['send', 'send'], 'a second after the step');
  });

  it('keeps a bucket per answer: another name, type or rcode is not limited by this one', () => {
    const limiter = new ResponseRateLimiter(SETTINGS);
    burst(limiter, '10.0.0.1', 5, 0);
    assert.deepEqual(burst(limiter, '10.0.0.1', 2, 0, '28 example.com forward'), ['send', 'send']);
    assert.deepEqual(burst(limiter, '10.0.0.1', 2, 0, '1 example.org forward'), ['send', 'send']);
    assert.deepEqual(burst(limiter, '10.0.0.1', 2, 0, '1 nope.example.com 3'), ['send', 'send']);
  });

  it('allows a rate below one response a second', () => {
    const limiter = new ResponseRateLimiter({ ...SETTINGS, responsesPerSecond: 0.5 });
    assert.equal(limiter.decide('10.0.0.1', ANSWER, 0), 'send', 'the first response');
    assert.equal(limiter.decide('10.0.0.1', ANSWER, 1000), 'drop');
    assert.equal(limiter.decide('10.0.0.1', ANSWER, 3000), 'send', 'one every two seconds');
  });
});

describe('ResponseRateLimiter: slip', () => {
  const cases: Array<[number, string[]]> = [
    [0, ['drop', 'drop', 'drop', 'drop', 'drop', 'drop']],
    [1, ['slip', 'slip', 'slip', 'slip', 'slip', 'slip']],
    [2, ['drop', 'slip', 'drop', 'slip', 'drop', 'slip']],
    [3, ['drop', 'drop', 'slip', 'drop', 'drop', 'slip']],
  ];
  for (const [slip, expected] of cases) {
    it(`slip ${slip}: ${expected.join(', ')}`, () => {
      const limiter = new ResponseRateLimiter({ ...SETTINGS, slip });
      assert.deepEqual(burst(limiter, '10.0.0.1', 2, 0), ['send', 'send']);
      assert.deepEqual(burst(limiter, '10.0.0.1', 6, 0), expected);
      assert.deepEqual([limiter.dropped, limiter.slipped], [expected.filter((d) => d === 'drop').length, expected.filter((d) => d === 'slip').length]);
    });
  }

  it('counts slips per bucket: another client’s limited responses do not move this one’s turn', () => {
    const limiter = new ResponseRateLimiter({ ...SETTINGS, slip: 2 });
    burst(limiter, '10.0.0.1', 2, 0);
    burst(limiter, '10.0.0.2', 2, 0);
    assert.deepEqual([limiter.decide('10.0.0.1', ANSWER, 0), limiter.decide('10.0.0.2', ANSWER, 0), limiter.decide('10.0.0.1', ANSWER, 0)], ['drop', 'drop', 'slip']);
  });
});

describe('ResponseRateLimiter: who shares a bucket', () => {
  // [settings, a client that exhausts its bucket, another client, whether the other is limited with it]
  const cases: Array<[string, Partial<RateLimitSettings>, string, string, boolean]> = [
    ['/32 by default: a neighbour keeps its own budget', {}, '10.0.0.1', '10.0.0.2', false],
    ['/32: the same address over IPv4-mapped IPv6 is the same client', {}, '10.0.0.1', '::ffff:10.0.0.1', true],
    ['/24: a neighbour in the /24 shares it', { ipv4PrefixLength: 24 }, '10.0.0.1', '10.0.0.254', true],
    ['/24: the next /24 does not', { ipv4PrefixLength: 24 }, '10.0.0.1', '10.0.1.1', false],
    ['/128 by default for IPv6', {}, 'fd00::1', 'fd00::2', false],
    ['/64 for IPv6: the same /64 shares it', { ipv6PrefixLength: 64 }, 'fd00:0:0:1::1', 'fd00:0:0:1:ffff::2', true],
    ['/64 for IPv6: the next /64 does not', { ipv6PrefixLength: 64 }, 'fd00:0:0:1::1', 'fd00:0:0:2::1', false],
    ['families never share', { ipv4PrefixLength: 8, ipv6PrefixLength: 16 }, '10.0.0.1', 'a00::1', false],
  ];
  for (const [name, settings, first, second, shared] of cases) {
    it(name, () => {
      const limiter = new ResponseRateLimiter({ ...SETTINGS, ...settings });
      assert.deepEqual(burst(limiter, first, 3, 0), ['send', 'send', 'drop']);
      assert.equal(limiter.decide(second, ANSWER, 0), shared ? 'drop' : 'send');
    });
  }
});

describe('ResponseRateLimiter: the table of buckets is bounded', () => {
  it('forgets the least recently used bucket when 100,000 others arrive, and keeps a busy one', () => {
    const limiter = new ResponseRateLimiter(SETTINGS);
    burst(limiter, '10.0.0.1', 3, 0);
    burst(limiter, '10.0.0.2', 3, 0);
    for (let i = 0; i < 100_000; i++) {
      // 10.0.0.2 keeps asking, so its bucket stays the most recently used.
      if (i % 1000 === 0) limiter.decide('10.0.0.2', ANSWER, 0);
      limiter.decide(`10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`, '1 flood.example forward', 0);
    }
    assert.equal(limiter.decide('10.0.0.1', ANSWER, 0), 'send', 'a forgotten bucket starts full again');
    assert.equal(limiter.decide('10.0.0.2', ANSWER, 0), 'drop', 'a bucket in use is kept');
  });
});
