import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapSpaceStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type HeapSettleOptions, HeapSettler, type Settled, fullCollection } from '../../src/util/heap-settle.ts';

describe('collecting after a bulk change of the view', () => {
  let clock = 0;
  let collections: number[];
  let settled: Array<{ records: number; heapUsedBefore: number; heapUsedAfter: number }>;
  let heap: number;
  const settler = (overrides: Partial<HeapSettleOptions> = {}) =>
    new HeapSettler({
      threshold: 1000,
      quietMs: 2000,
      maxDelayMs: 30_000,
      minIntervalMs: 10_000,
      collect: () => {
        collections.push(clock);
        heap = 40;
      },
      onSettled: ({ records, heapUsedBefore, heapUsedAfter }) => settled.push({ records, heapUsedBefore, heapUsedAfter }),
      releaseFreedMemory: null,
      heapUsed: () => heap,
      now: () => clock,
      ...overrides,
    });
  /** Time passes a millisecond at a time, so a collection sees the clock at its timer's time. */
  const advance = (ms: number) => {
    for (let step = 0; step < ms; step++) {
      clock++;
      mock.timers.tick(1);
    }
  };

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
    clock = 0;
    collections = [];
    settled = [];
    heap = 100;
  });
  afterEach(() => mock.timers.reset());

  it('collects once the changes have been quiet for quietMs, and says what it freed', () => {
    const s = settler();
    s.note(600);
    advance(500);
    s.note(600);
    advance(1999);
    assert.deepEqual(collections, [], 'not while changes may still come');
    advance(1);
    assert.deepEqual(collections, [2500]);
    assert.deepEqual(settled, [{ records: 1200, heapUsedBefore: 100, heapUsedAfter: 40 }]);
    advance(60_000);
    assert.equal(collections.length, 1, 'once per bulk change');
  });

  it('leaves changes below the threshold to V8, however long they keep coming in small numbers', () => {
    const s = settler();
    for (let second = 0; second < 100; second++) {
      s.note(9);
      advance(1000);
    }
    assert.deepEqual(collections, []);
    s.note(100);
    advance(2000);
    // They began long ago (maxDelayMs): collected as soon as they add up to a bulk change.
    assert.deepEqual(settled.map((s) => s.records), [1000], 'what added up to a bulk change since the last collection');
  });

  it('collects maxDelayMs after a bulk change began when changes never go quiet', () => {
    const s = settler();
    for (let step = 0; step < 70; step++) {
      s.note(1000);
      advance(1000);
    }
    assert.deepEqual(collections, [30_000, 60_000]);
  });

  it('collects at most once per minIntervalMs, however often bulk changes go quiet', () => {
    const s = settler();
    for (let change = 0; change < 5; change++) {
      s.note(5000);
      advance(2500);
    }
    // Quiet 2 s after each of the five changes, but 10 s must pass between collections: the
    // four after the first are collected together, once.
    assert.deepEqual(collections, [2000, 12_000]);
    assert.deepEqual(settled.map((s) => s.records), [5000, 20_000]);
    advance(60_000);
    assert.equal(collections.length, 2);
  });

  it('gives the freed memory back after the collection, and says what each step left resident', () => {
    const steps: string[] = [];
    let rss = 300;
    let result: Settled | undefined;
    const s = settler({
      collect: () => {
        steps.push('collect');
        rss = 200;
        clock += 40;
      },
      releaseFreedMemory: () => {
        steps.push('release');
        rss = 180;
        clock += 3;
        return true;
      },
      rss: () => rss,
      onSettled: (settled) => (result = settled),
    });
    s.note(5000);
    advance(2000);
    assert.deepEqual(steps, ['collect', 'release']);
    assert.deepEqual(result, {
      records: 5000,
      ms: 40,
      heapUsedBefore: 100,
      heapUsedAfter: 100,
      rssBefore: 300,
      rssAfterCollection: 200,
      release: { ms: 3, released: true, rssAfter: 180 },
    });
  });

  it('only collects where freed memory cannot be given back', () => {
    let result: Settled | undefined;
    const s = settler({ rss: () => 300, onSettled: (settled) => (result = settled) });
    s.note(5000);
    advance(2000);
    assert.deepEqual(collections, [2000]);
    assert.equal(result?.release, null);
  });

  it('collects nothing once stopped', () => {
    const s = settler();
    s.note(5000);
    s.stop();
    advance(60_000);
    assert.deepEqual(collections, []);
  });

  it('uses V8’s own full collection, which frees what nothing references', async () => {
    const collect = fullCollection();
    let garbage: number[][] | null = Array.from({ length: 2000 }, (_, i) => Array.from({ length: 100 }, () => i));
    const ref = new WeakRef(garbage);
    garbage = null;
    // A WeakRef's target is kept until the job that made it ends.
    await new Promise((resolve) => setImmediate(resolve));
    collect();
    assert.ok(ref.deref() === undefined, 'the unreferenced arrays are gone');
  });

  it('gives back the pages a burst of garbage left fragmented, which a regular collection keeps', async () => {
    const collect = fullCollection();
    const regular = runInNewContext('gc') as (options: object) => void;
    const oldSpace = () => getHeapSpaceStatistics().find((space) => space.space_name === 'old_space')!;
    // Old objects, then every other one dropped: every page stays half full.
    let kept: number[][] = Array.from({ length: 60_000 }, (_, i) => Array.from({ length: 40 }, () => i));
    regular({ type: 'major', execution: 'sync', flavor: 'regular' });
    kept = kept.filter((_, i) => i % 2 === 0);
    await new Promise((resolve) => setImmediate(resolve));
    regular({ type: 'major', execution: 'sync', flavor: 'regular' });
    const fragmented = oldSpace();
    collect();
    const compacted = oldSpace();
    assert.equal(kept.length, 30_000);
    const free = (space: typeof fragmented) => space.space_size - space.space_used_size;
    // A regular collection here gives back about three quarters of the free pages' room.
    assert.ok(free(compacted) < free(fragmented) / 10, `old space ${fragmented.space_size} → ${compacted.space_size} bytes, ${compacted.space_used_size} in use`);
  });
});
