/** Retry waits: doubling from the base to the cap; with jitter, drawn from the upper half of that. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from '../../src/util/backoff.ts';

describe('backoffDelay', () => {
  it('worker restarts: 0.1 s doubling to 5 s, the same every time', () => {
    const worker = { baseMs: 100, maxMs: 5_000, jitter: false };
    const waits = [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffDelay(attempt, worker, () => 0.5));
    assert.deepEqual(waits, [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
  });

  it('watch retries: 0.5 s doubling to the cap, each wait in the upper half of its step', () => {
    const watch = { baseMs: 500, maxMs: 30_000, jitter: true };
    const ceilings = [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
    for (const [i, ceiling] of ceilings.entries()) {
      assert.equal(backoffDelay(i + 1, watch, () => 0), ceiling / 2, `attempt ${i + 1}, lowest draw`);
      assert.equal(backoffDelay(i + 1, watch, () => 0.5), (ceiling * 3) / 4, `attempt ${i + 1}, middle draw`);
      const highest = backoffDelay(i + 1, watch, () => 1 - Number.EPSILON);
      assert.ok(highest < ceiling && highest > ceiling * 0.99, `attempt ${i + 1}, highest draw ${highest}`);
    }
  });

  it('stays at the cap, a finite number, however many failures', () => {
    for (const attempt of [31, 100, 2_000, Number.MAX_SAFE_INTEGER]) {
      assert.equal(backoffDelay(attempt, { baseMs: 500, maxMs: 600_000, jitter: false }), 600_000);
    }
  });

  it('treats a first try (attempt 0 or less) as the first failure: the base wait', () => {
    assert.equal(backoffDelay(0, { baseMs: 100, maxMs: 5_000, jitter: false }), 100);
  });
});
