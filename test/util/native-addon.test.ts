import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadNativeAddon } from '../../src/util/native-addon.ts';
import { skipWithoutNativeAddon } from '../helpers/lbdns-process.ts';

const run = promisify(execFile);
const MiB = 1 << 20;

/**
 * A process of its own (so that nothing else this test runner allocates moves its memory) mallocs
 * 256 MiB as 16 KiB ArrayBuffer stores (below glibc's mmap threshold: from the heap), keeps one
 * in 16 so that the freed 15 lie below live chunks where free() never returns them, frees and
 * collects the rest, and prints its resident set before and after releaseFreedMemory.
 */
const child = `
import { loadNativeAddon } from ${JSON.stringify(new URL('../../src/util/native-addon.ts', import.meta.url).href)};
const addon = loadNativeAddon();
if (addon instanceof Error) throw addon;
const kept = [];
let garbage = [];
for (let i = 0; i < 16384; i++) {
  const store = new Uint8Array(16384).fill(1);
  (i % 16 === 15 ? kept : garbage).push(store);
}
garbage = null;
await new Promise((resolve) => setImmediate(resolve));
gc();
await new Promise((resolve) => setTimeout(resolve, 50));
gc();
const before = process.memoryUsage.rss();
const released = addon.releaseFreedMemory();
const after = process.memoryUsage.rss();
console.log(JSON.stringify({ before, released, after, kept: kept.length }));
`;

describe('the native addon’s release of freed memory', { skip: skipWithoutNativeAddon() }, () => {
  it('says with a boolean whether it gave memory back', () => {
    const addon = loadNativeAddon();
    assert.ok(!(addon instanceof Error), String(addon));
    assert.equal(typeof addon.releaseFreedMemory(), 'boolean');
  });

  it('gives the kernel back memory that malloc held free below live allocations', async () => {
    const { stdout } = await run(process.execPath, ['--expose-gc', '--input-type=module', '-e', child], { timeout: 60_000 });
    const { before, released, after } = JSON.parse(stdout) as { before: number; released: boolean; after: number };
    const report = `resident ${Math.round(before / MiB)} MiB before, ${Math.round(after / MiB)} MiB after`;
    // 240 MiB were freed; the collection alone gives back none of it (glibc returns only the top of a heap).
    assert.equal(released, true, report);
    assert.ok(before - after > 120 * MiB, `at least half of the 240 MiB freed given back: ${report}`);
  });
});
