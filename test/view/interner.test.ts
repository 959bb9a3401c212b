import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Interner, NO_STRINGS } from '../../src/view/interner.ts';

describe('Interner', () => {
  it('keeps one entry per distinct string, however often it is interned', () => {
    const names = new Interner(100);
    for (let round = 0; round < 50; round++) for (const zone of ['zone-a', 'zone-b', 'zone-c']) assert.equal(names.intern(`${zone}`), zone);
    assert.equal(names.size, 3);
  });

  it('never holds more than its capacity, whatever the churn of names, and still returns each value', () => {
    const names = new Interner(64);
    for (let n = 0; n < 10_000; n++) {
      const node = `node-${n}.compute.internal`;
      assert.equal(names.intern(node), node);
      assert.ok(names.size <= 64, `size ${names.size} after ${n + 1} names`);
    }
    // Starting over keeps sharing for what comes after: a name seen again counts once.
    const before = names.size;
    names.intern('zone-x');
    names.intern('zone-x');
    assert.equal(names.size, before + 1 > 64 ? 1 : before + 1);
  });

  it('passes null through, and hands out the one frozen empty list for no names', () => {
    const names = new Interner(8);
    assert.equal(names.internOrNull(null), null);
    assert.equal(names.internOrNull(undefined), null);
    assert.equal(names.internAll([]), NO_STRINGS);
    assert.ok(Object.isFrozen(NO_STRINGS));
    assert.deepEqual(names.internAll(['a', 'b', 'a']), ['a', 'b', 'a']);
    assert.equal(names.size, 2);
  });
});
