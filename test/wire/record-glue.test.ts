/** Glue by record: the additional records of the records a response sends, each once, first needed first. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RecordGlue, glueOf } from '../../src/wire/record-glue.ts';

// Four records; glue records g0..g3. Record 0 → g0; 1 → g1, g2 (dual stack); 2 → g0 (same target,
// another port); 3 → none.
const additional = ['g0', 'g1', 'g2', 'g3'].map((g) => Buffer.from(g));
const glue: RecordGlue = { start: Uint32Array.from([0, 1, 3, 4, 4]), index: Uint32Array.from([0, 1, 2, 0]), additional };
const names = (buffers: Buffer[]) => buffers.map((b) => b.toString());

describe('glueOf', () => {
  const cases: [number[], string[]][] = [
    [[], []],
    [[3], []],
    [[0], ['g0']],
    [[1], ['g1', 'g2']],
    [[2, 0], ['g0']],
    [[1, 2, 3], ['g1', 'g2', 'g0']],
    [[3, 2, 1, 0], ['g0', 'g1', 'g2']],
  ];
  for (const [order, expected] of cases) {
    it(`records ${JSON.stringify(order)} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(names(glueOf(glue, order)), expected);
    });
  }
});
