/** A Service's slices held as one slice, or a Map once it has several: the same answers either way. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type SliceSet, sliceCount, sliceNamed, slicesIn, withSlice, withoutSlice } from '../../src/view/slice-set.ts';
import type { EndpointSlice } from '../../src/view/types.ts';

/** A new record each call: a replacement is told from the slice it replaces by identity. */
const slice = (name: string): EndpointSlice => ({ namespace: 'shop', name, serviceName: 'web', addressType: 'IPv4', ports: [], endpoints: [] });
const names = (set: SliceSet | undefined) => [...slicesIn(set)].map((s) => s.name);

describe('SliceSet', () => {
  it('holds one slice as it is, and several in the order they came, replacing by name', () => {
    const a = slice('a');
    let set = withSlice(undefined, a);
    assert.equal(set, a);
    assert.equal(sliceCount(set), 1);
    assert.equal(sliceNamed(set, 'a'), a);
    assert.equal(sliceNamed(set, 'b'), undefined);
    const a2 = slice('a');
    set = withSlice(set, a2);
    assert.equal(set, a2, 'the same name replaces');
    set = withSlice(set, slice('b'));
    set = withSlice(set, slice('c'));
    assert.deepEqual(names(set), ['a', 'b', 'c']);
    const b2 = slice('b');
    set = withSlice(set, b2);
    assert.deepEqual(names(set), ['a', 'b', 'c'], 'a replaced slice keeps its place');
    assert.equal(sliceNamed(set, 'b'), b2);
    assert.equal(sliceCount(set), 3);
  });

  it('goes back to the one slice left, and to nothing', () => {
    let set: SliceSet | undefined = withSlice(withSlice(withSlice(undefined, slice('a')), slice('b')), slice('c'));
    set = withoutSlice(set, 'b');
    assert.deepEqual(names(set), ['a', 'c']);
    set = withoutSlice(set!, 'missing');
    assert.deepEqual(names(set), ['a', 'c']);
    set = withoutSlice(set!, 'a');
    assert.ok(set !== undefined && !(set instanceof Map));
    assert.deepEqual(names(set), ['c']);
    assert.equal(withoutSlice(set, 'a'), set);
    assert.equal(withoutSlice(set, 'c'), undefined);
    assert.equal(sliceCount(undefined), 0);
    assert.deepEqual(names(undefined), []);
  });
});
