/** The plain shuffle: a partial Fisher–Yates over one permutation kept with the answer. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chooseShuffled, partialShuffle } from '../../src/balance/shuffle.ts';
import { seededRandom } from '../helpers/random.ts';

describe('partialShuffle', () => {
  it('gives every ordered choice of 2 of 5 equally often, from whatever order the last call left', () => {
    const order = Uint32Array.from([0, 1, 2, 3, 4]);
    const random = seededRandom(17);
    const samples = 20_000;
    const counts = new Map<string, number>();
    for (let i = 0; i < samples; i++) {
      partialShuffle(order, 2, random);
      const key = `${order[0]},${order[1]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      assert.deepEqual([...order].sort(), [0, 1, 2, 3, 4], 'still a permutation');
    }
    assert.equal(counts.size, 20);
    const expected = samples / 20;
    const statistic = [...counts.values()].reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
    // Pearson's chi-square, 19 degrees of freedom, p = 0.001.
    assert.ok(statistic < 43.82, `chi-square ${statistic.toFixed(2)}: ${JSON.stringify([...counts])}`);
  });

  it('chooses only as many records as asked, each once, and all of them when asked for more', () => {
    const answers = Array.from({ length: 9 }, (_, i) => Buffer.from([i]));
    const order = Uint32Array.from({ length: 7 }, (_, i) => i);
    const three = chooseShuffled(answers, 2, order, 3, seededRandom(1));
    assert.equal(three.length, 3);
    assert.equal(new Set(three).size, 3);
    assert.ok(three.every((b) => b[0]! >= 2), 'only records from `from` on');
    assert.deepEqual(chooseShuffled(answers, 2, order, 100, seededRandom(2)).map((b) => b[0]).sort(), [2, 3, 4, 5, 6, 7, 8]);
  });
});
