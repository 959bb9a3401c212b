/**
 * The fixed answers all serving threads share: one writer, readers on any thread. A reader gets
 * the answer the writer put for its question, or nothing: never another question's answer, never
 * one released or replaced, never a mix of two (checked from a real worker thread reading while
 * the main thread rewrites the same entry).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tableThread } from '../helpers/table-thread.ts';
import { SharedAnswers, sharedAnswersMemory } from '../../src/server/shared-answers.ts';
import { readCommonQuery } from '../../src/wire/query.ts';
import type { FixedAnswer } from '../../src/wire/message.ts';
import { buildQuery } from '../helpers/dns-client.ts';

function question(name: string, type = 'A') {
  const msg = buildQuery(name, type);
  const at = readCommonQuery(msg);
  assert.ok(at !== null, name);
  return { msg, at };
}

/** An answer whose every byte is `fill`, with counts to match. */
function answer(fill: number, length = 16): FixedAnswer {
  return { rcode: fill % 6, authoritative: fill % 2 === 0, records: Buffer.alloc(length, fill), answers: 1, authority: 0, additional: 1, additionalAt: length / 2 };
}

describe('shared answers', () => {
  it('reads back what was put, for the question in any letter case, and nothing for another type', () => {
    const table = new SharedAnswers(sharedAnswersMemory(100));
    const { msg, at } = question('web.default.svc.cluster.local');
    const ref = table.put(msg, at, answer(7), 'cluster.local', true);
    assert.ok(ref !== null);
    const upper = question('WEB.Default.svc.cluster.local');
    const hit = table.read(upper.msg, upper.at);
    assert.ok(hit !== null);
    assert.equal(hit.zone, 'cluster.local');
    assert.deepEqual({ ...hit.fixed, records: [...hit.fixed.records] }, { ...answer(7), records: [...answer(7).records] });
    const aaaa = question('web.default.svc.cluster.local', 'AAAA');
    assert.equal(table.read(aaaa.msg, aaaa.at), null);
    assert.deepEqual([...(table.recordsOf(ref) as Buffer)], [...answer(7).records]);
  });

  it('finds nothing once released, replaced or all released, and keeps zones apart', () => {
    const table = new SharedAnswers(sharedAnswersMemory(100));
    const a = question('a.ns.svc.cluster.local');
    const b = question('10.0.0.10.in-addr.arpa', 'PTR');
    const refA = table.put(a.msg, a.at, answer(1), 'cluster.local', true)!;
    table.put(b.msg, b.at, answer(2), 'in-addr.arpa', true);
    assert.equal(table.read(b.msg, b.at)?.zone, 'in-addr.arpa');
    table.release(refA);
    assert.equal(table.read(a.msg, a.at), null);
    assert.equal(table.holds(refA), false);
    const refA2 = table.put(a.msg, a.at, answer(3), 'cluster.local', true)!;
    // Releasing a reference the entry has since left does not touch its successor.
    table.release(refA);
    assert.equal(table.read(a.msg, a.at)?.fixed.records[0], 3);
    const refA3 = table.put(a.msg, a.at, answer(4), 'cluster.local', true)!;
    assert.equal(table.holds(refA2), false, 'replaced');
    assert.equal(table.read(a.msg, a.at)?.fixed.records[0], 4);
    table.releaseAll();
    assert.equal(table.read(a.msg, a.at), null);
    assert.equal(table.read(b.msg, b.at), null);
    assert.equal(table.holds(refA3), false);
  });

  it('tells apart questions whose keys collide', () => {
    const table = new SharedAnswers(sharedAnswersMemory(100));
    const a = question('a.ns.svc.cluster.local');
    const b = question('b.ns.svc.cluster.local');
    const key = a.at.key;
    table.put(a.msg, a.at, answer(1), 'cluster.local', true);
    assert.equal(table.read(b.msg, { ...b.at, key }), null);
    table.put(b.msg, { ...b.at, key }, answer(2), 'cluster.local', true);
    assert.equal(table.read(a.msg, a.at)?.fixed.records[0], 1);
    assert.equal(table.read(b.msg, { ...b.at, key })?.fixed.records[0], 2);
  });

  it('stays bounded: old segments are reused and their entries leave; too large an answer is not shared', () => {
    const table = new SharedAnswers(sharedAnswersMemory(10));
    const refs = [];
    // Far more than the table's segments hold: every read is the right answer or nothing.
    for (let i = 0; i < 20_000; i++) {
      const { msg, at } = question(`s${i}.ns.svc.cluster.local`);
      refs.push(table.put(msg, at, answer(i % 251, 64), 'cluster.local', true));
    }
    let held = 0;
    for (let i = 0; i < 20_000; i++) {
      const { msg, at } = question(`s${i}.ns.svc.cluster.local`);
      const hit = table.read(msg, at);
      if (hit === null) continue;
      held++;
      assert.ok(hit.fixed.records.every((byte) => byte === i % 251), `s${i}`);
    }
    assert.ok(held > 0 && held < 20_000, `${held} held`);
    assert.equal(table.holds(refs[0]!), false, 'the first entry left');
    assert.equal(table.holds(refs.at(-1)!), true, 'the last entry is there');
    // However large the cache asked for, the table reserves at most 256 MiB of arena.
    assert.ok(sharedAnswersMemory(100_000_000).buffer.byteLength < 300 * 2 ** 20);
    const big = question('big.ns.svc.cluster.local');
    assert.equal(table.put(big.msg, big.at, answer(9, 8192), 'cluster.local', true), null);
    assert.equal(table.read(big.msg, big.at), null);
  });

  it('never gives a reader on another thread a mix of two answers while the writer rewrites them', async () => {
    const memory = sharedAnswersMemory(100);
    const table = new SharedAnswers(memory);
    const names = ['x.ns.svc.cluster.local', 'y.ns.svc.cluster.local'];
    const done = new Int32Array(new SharedArrayBuffer(4));
    // The reader: the real module in a worker thread, checking each answer it reads is whole.
    const reader = tableThread(
      memory,
      `
      const questions = workerData.queries.map((q) => { const msg = Buffer.from(q); return { msg, at: readCommonQuery(msg) }; });
      let reads = 0, hits = 0, mixed = 0;
      parentPort.postMessage('reading');
      // Until the writer is done and 20,000 reads were made, whatever the machine's load.
      for (let i = 0; (Atomics.load(workerData.done, 0) === 0 || reads < 20_000) && i < 5_000_000; i++) {
        const { msg, at } = questions[i % 2];
        const hit = table.read(msg, at);
        reads++;
        if (hit === null) continue;
        hits++;
        const fill = hit.fixed.records[0];
        if (!hit.fixed.records.every((b) => b === fill) || hit.fixed.rcode !== fill % 6 || hit.fixed.records.length !== 1024 + (fill % 5) * 512 || (fill & 1) !== i % 2) mixed++;
      }
      parentPort.postMessage({ reads, hits, mixed });
      `,
      { done, queries: names.map((n) => buildQuery(n, 'A')) },
    );
    const questions = names.map((n) => question(n));
    table.put(questions[0]!.msg, questions[0]!.at, answer(0, 1024), 'cluster.local', true);
    const result = new Promise<{ reads: number; hits: number; mixed: number }>((resolve, reject) => {
      reader.on('message', (message) => message !== 'reading' && resolve(message));
      reader.once('error', reject);
    });
    await new Promise<void>((resolve) => reader.on('message', () => resolve()));
    // Rewrites, releases and puts again: each answer's length and bytes say which write made it,
    // and odd fills belong to the second name only.
    for (let round = 0; round < 200_000; round++) {
      const which = round % 2;
      const fill = ((round >> 1) * 2 + which) % 250;
      const { msg, at } = questions[which]!;
      const ref = table.put(msg, at, { ...answer(fill, 1024 + (fill % 5) * 512) }, 'cluster.local', true);
      if (round % 7 === 0 && ref !== null) table.release(ref);
      if (round % 50_000 === 0) await new Promise((r) => setImmediate(r));
    }
    Atomics.store(done, 0, 1);
    const { reads, hits, mixed } = await result;
    await reader.terminate();
    assert.ok(reads >= 20_000 && hits > 0, `${hits} of ${reads} reads found an answer`);
    assert.equal(mixed, 0, `${mixed} of ${hits} answers read were a mix`);
  });
});
