/** Weighted draws without replacement: exact probabilities at every step, whichever way a draw goes. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WeightedSampler } from '../../src/balance/sampler.ts';
import { seededRandom } from '../helpers/random.ts';

/** Pearson's chi-square critical values at p = 0.001 by degrees of freedom. */
const CRITICAL_0_001: Record<number, number> = { 1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47 };

function chiSquare(counts: number[], shares: number[], samples: number): number {
  return counts.reduce((sum, count, i) => sum + (count - shares[i]! * samples) ** 2 / (shares[i]! * samples), 0);
}

/** One query's draws: up to `count` positions. */
function drawQuery(sampler: WeightedSampler, random: () => number, count = sampler.size, skipFrom = 0, skipTo = 0): number[] {
  sampler.begin();
  const order: number[] = [];
  while (order.length < count) {
    const position = sampler.draw(random, skipFrom, skipTo);
    if (position < 0) break;
    sampler.take(position);
    order.push(position);
  }
  return order;
}

describe('WeightedSampler', () => {
  it('draws the first position in proportion to its weight, and the second among the rest', () => {
    const weights = [6, 3, 1];
    const sampler = new WeightedSampler(Float64Array.from(weights));
    const random = seededRandom(11);
    const samples = 30_000;
    const first = [0, 0, 0];
    // Second position given that position 0 came first: 3:1 between positions 1 and 2.
    const secondAfterZero = [0, 0];
    for (let i = 0; i < samples; i++) {
      const order = drawQuery(sampler, random);
      assert.equal(new Set(order).size, 3, 'every position once');
      first[order[0]!]!++;
      if (order[0] === 0) secondAfterZero[order[1]! - 1]!++;
    }
    assert.ok(chiSquare(first, [0.6, 0.3, 0.1], samples) < CRITICAL_0_001[2]!, JSON.stringify(first));
    const afterZero = secondAfterZero[0]! + secondAfterZero[1]!;
    assert.ok(chiSquare(secondAfterZero, [0.75, 0.25], afterZero) < CRITICAL_0_001[1]!, JSON.stringify(secondAfterZero));
  });

  it('keeps the probabilities when one record outweighs the rest by far (the exact fallback)', () => {
    // After the heavy record the others weigh 1e-6 of what was taken: draws go to the sum tree.
    const weights = [1e6, 1, 2, 1];
    const sampler = new WeightedSampler(Float64Array.from(weights));
    const random = seededRandom(5);
    const samples = 20_000;
    const second = [0, 0, 0];
    for (let i = 0; i < samples; i++) {
      const order = drawQuery(sampler, random);
      assert.equal(order.length, 4);
      if (order[0] === 0) second[order[1]! - 1]!++;
    }
    const total = second.reduce((a, b) => a + b, 0);
    assert.ok(total > samples * 0.99, 'the heavy record leads almost always');
    assert.ok(chiSquare(second, [0.25, 0.5, 0.25], total) < CRITICAL_0_001[2]!, JSON.stringify(second));
  });

  it('still draws records a hundred orders of magnitude lighter than the ones taken', () => {
    const sampler = new WeightedSampler(Float64Array.from([1e300, 1e-300, 1e-300, 1e300]));
    for (let i = 0; i < 100; i++) assert.deepEqual(new Set(drawQuery(sampler, seededRandom(i))), new Set([0, 1, 2, 3]));
  });

  it('never draws the run left out, and says when nothing else is left', () => {
    const weights = Float64Array.from({ length: 100 }, (_, i) => 1 + (i % 7));
    const sampler = new WeightedSampler(weights);
    const random = seededRandom(3);
    for (const [from, to] of [[0, 10], [40, 95], [90, 100], [1, 99], [0, 100]] as const) {
      const order = drawQuery(sampler, random, 1000, from, to);
      assert.equal(order.length, 100 - (to - from), `[${from}, ${to})`);
      assert.ok(order.every((p) => p < from || p >= to), `[${from}, ${to})`);
      assert.equal(new Set(order).size, order.length);
    }
  });

  it('leaves nothing behind between queries: the same seed draws the same order after any other queries', () => {
    const weights = Float64Array.from({ length: 5000 }, (_, i) => (i === 17 ? 1e7 : 1 + (i % 5)));
    const sampler = new WeightedSampler(weights);
    const before = drawQuery(sampler, seededRandom(99), 80);
    // Queries that end in every state: partway, exhausted, through the fallback, with runs left out.
    const random = seededRandom(1);
    for (let i = 0; i < 300; i++) drawQuery(sampler, random, [3, 80, 5000][i % 3]!, i % 2 ? 100 : 0, i % 2 ? 4000 : 0);
    assert.deepEqual(drawQuery(sampler, seededRandom(99), 80), before);
  });
});
