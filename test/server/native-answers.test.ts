/**
 * The addon's answers from the shared table (native/fixed_answers.cc) against the handler's
 * (readCommonQuery, SharedAnswers.read, writeFixedResponse): through a real UdpBatch socket and
 * real UDP packets, every reply the addon makes must be the bytes the TypeScript path makes for
 * the same query, whatever the answer's size against the client's UDP size (additional records
 * cut, answers cut with TC), the EDNS flags, the name's letter case; and what it must leave to
 * JavaScript (EDNS options, answers that are rate limited, a released entry, the handler saying
 * no, malformed or mutated packets) reaches the handler instead. A reply is never a mix of two
 * answers while another thread rewrites the entry (as in shared-answers.test.ts, the race window
 * is too small for this to prove the addon's seq check is needed: without it the test still passed).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import pino from 'pino';
import { SharedAnswers, sharedAnswersMemory } from '../../src/server/shared-answers.ts';
import { batchAddon, listenUdpBatch } from '../../src/server/udp-batch.ts';
import type { BatchAnswering } from '../../src/server/handler.ts';
import { noUdpSendErrors } from '../../src/server/udp.ts';
import { questionKeySeed, readCommonQuery } from '../../src/wire/query.ts';
import { type FixedAnswer, udpLimit, writeFixedResponse } from '../../src/wire/message.ts';
import { buildQuery } from '../helpers/dns-client.ts';
import { skipWithoutNativeAddon } from '../helpers/lbdns-process.ts';
import { tableThread } from '../helpers/table-thread.ts';
import { seededRandom } from '../../src/util/seeded-random.ts';

const ADVERTISED = 1232;

/** `count` records owned by the question (a pointer to it): A records, or TXT of `size` bytes of RDATA. */
function records(count: number, size: number, fill: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => {
    const rdata = size === 4 ? Buffer.from([10, fill, i >> 8, i & 0xff]) : Buffer.concat([Buffer.from([size - 1]), Buffer.alloc(size - 1, 0x61 + ((fill + i) % 26))]);
    const head = Buffer.from([0xc0, 0x0c, 0, size === 4 ? 1 : 16, 0, 1, 0, 0, 0, 30, rdata.length >> 8, rdata.length & 0xff]);
    return Buffer.concat([head, rdata]);
  });
}

function fixedAnswer(answers: Buffer[], authority: Buffer[], additional: Buffer[], rcode = 0, authoritative = true): FixedAnswer {
  const additionalAt = [...answers, ...authority].reduce((n, r) => n + r.length, 0);
  return { rcode, authoritative, records: Buffer.concat([...answers, ...authority, ...additional]), answers: answers.length, authority: authority.length, additional: additional.length, additionalAt };
}

/** What the handler answers for `query` when the table holds its answer (handler.ts answer(), the cached fixed route). */
function typescriptAnswer(table: SharedAnswers, query: Buffer): Buffer | null {
  const common = readCommonQuery(query);
  if (common === null || common.edns?.optionsAt !== undefined) return null;
  const hit = table.read(query, common);
  if (hit === null) return null;
  return writeFixedResponse(query, common, hit.fixed, udpLimit(common.edns, ADVERTISED), ADVERTISED);
}

describe('answers from the shared table, in the addon', { skip: skipWithoutNativeAddon() }, () => {
  const table = new SharedAnswers(sharedAnswersMemory(1000));
  const control = new Int32Array([1, ADVERTISED]);
  /** What reached the handler, and what the addon counted. */
  const handled: Buffer[] = [];
  const counted: Array<{ zone: string | null; family: number; qtype: number; requestSize: number; rcode: number; responseSize: number }> = [];
  const handler: BatchAnswering = {
    handle: (request) => {
      handled.push(Buffer.from(request));
      // The handler's reply: a marker, so a test can tell who answered.
      return Buffer.from('handler');
    },
    countNative: (zone, family, qtype, requestSize, rcode, responseSize) => {
      counted.push({ zone: table.zoneAt(zone), family, qtype, requestSize, rcode, responseSize });
    },
  };
  let listener: { port: number; close(): void };
  let client: Socket;
  const replies: Buffer[] = [];
  let waiting: (() => void) | null = null;

  before(async () => {
    listener = listenUdpBatch(batchAddon(), { family: 'udp4', host: '127.0.0.1', port: 0 }, handler, pino({ level: 'silent' }), false, noUdpSendErrors(), {
      table: table.views,
      control,
      seed: questionKeySeed(),
    });
    client = createSocket('udp4');
    client.on('message', (message) => {
      replies.push(message);
      waiting?.();
    });
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  });
  after(() => {
    client.close();
    listener.close();
  });

  /** Sends `query` and gives its reply (null: none within 300 ms). */
  async function ask(query: Buffer): Promise<Buffer | null> {
    replies.length = 0;
    const arrived = new Promise<void>((resolve) => {
      waiting = resolve;
      setTimeout(resolve, 300);
    });
    client.send(query, listener.port, '127.0.0.1');
    await arrived;
    waiting = null;
    return replies[0] ?? null;
  }

  function put(name: string, type: string, answer: FixedAnswer, zone = 'cluster.local', asIs = true) {
    const query = buildQuery(name, type);
    return table.put(query, readCommonQuery(query)!, answer, zone, asIs);
  }

  it('answers as the handler would, cutting additional records, then answers with TC, as the client\'s UDP size requires', async () => {
    // Each name's answer around the sizes that matter: 512 bytes, the sizes asked below, and ours (1232).
    const shapes: Array<[string, FixedAnswer]> = [
      ['small.ns.svc.cluster.local', fixedAnswer(records(1, 4, 1), [], [])],
      ['many.ns.svc.cluster.local', fixedAnswer(records(60, 4, 2), [], records(8, 4, 3))],
      ['glue.ns.svc.cluster.local', fixedAnswer(records(4, 100, 4), records(2, 30, 5), records(6, 90, 6))],
      ['txt.ns.svc.cluster.local', fixedAnswer(records(12, 120, 7), [], [])],
      ['nx.ns.svc.cluster.local', fixedAnswer([], records(1, 60, 8), [], 3, true)],
    ];
    for (const [name, answer] of shapes) assert.ok(put(name, 'A', answer) !== null, name);
    // Every size from 512 to past ours, so that records end exactly at the limit too.
    const sizes = [null, 100, ...Array.from({ length: 800 }, (_, i) => 512 + i), 4096];
    let asked = 0;
    for (const [name] of shapes) {
      for (const udpSize of sizes) {
        for (const dnssecOk of [false, true]) {
          if ((udpSize === null || udpSize % 7 !== 0) && dnssecOk) continue;
          // Any letter case: the reply echoes the client's.
          const spelled = asked % 2 === 0 ? name : name.toUpperCase();
          const query = buildQuery(spelled, 'A', udpSize === null ? {} : { udpSize, dnssecOk });
          const expected = typescriptAnswer(table, query);
          assert.ok(expected !== null, `${name} ${udpSize}`);
          const reply = await ask(query);
          assert.deepEqual(reply, expected, `${spelled} udp ${udpSize} DO ${dnssecOk}`);
          asked++;
        }
      }
    }
    assert.equal(handled.length, 0, 'the handler answered none of them');
    assert.equal(counted.length, asked);
    assert.ok(counted.every((c) => c.zone === 'cluster.local' && c.family === 4 && c.qtype === 1));
    assert.deepEqual(new Set(counted.map((c) => c.rcode)), new Set([0, 3]));
    // Both cuts happened: some replies have TC, some lost additional records without TC.
    const many = buildQuery('many.ns.svc.cluster.local', 'A', { udpSize: 900 });
    assert.equal(((await ask(many))![2]! & 0x02) !== 0, true, 'TC when the answers do not fit');
    const glue = (await ask(buildQuery('glue.ns.svc.cluster.local', 'A', { udpSize: 700 })))!;
    assert.equal(glue[2]! & 0x02, 0, 'no TC when only additional records are cut');
    assert.ok(glue.readUInt16BE(10) < 6 + 1, 'additional records were cut');
  });

  it('leaves to the handler what the handler must answer: EDNS options, rate limited answers, released entries, other shapes', async () => {
    const ref = put('limited.ns.svc.cluster.local', 'A', fixedAnswer(records(1, 4, 9), [], []), 'example.org', false);
    assert.ok(ref !== null);
    const released = put('released.ns.svc.cluster.local', 'A', fixedAnswer(records(1, 4, 10), [], []))!;
    table.release(released);
    handled.length = 0;
    counted.length = 0;
    const cookie = { code: 10, data: Buffer.alloc(8, 1) };
    const queries = [
      buildQuery('small.ns.svc.cluster.local', 'A', { udpSize: 1232, ednsOptions: [cookie] }),
      buildQuery('limited.ns.svc.cluster.local', 'A'),
      buildQuery('released.ns.svc.cluster.local', 'A'),
      buildQuery('small.ns.svc.cluster.local', 'AAAA'),
      buildQuery('unknown.ns.svc.cluster.local', 'A'),
      // A response, not a query (QR set); a second question; another opcode.
      Buffer.concat([buildQuery('small.ns.svc.cluster.local', 'A').subarray(0, 2), Buffer.from([0x81, 0x00]), buildQuery('small.ns.svc.cluster.local', 'A').subarray(4)]),
    ];
    for (const query of queries) assert.deepEqual(await ask(query), Buffer.from('handler'));
    assert.equal(handled.length, queries.length);
    assert.equal(counted.length, 0);
    // The handler says no (a query log was asked for): everything goes to it.
    control[0] = 0;
    assert.deepEqual(await ask(buildQuery('small.ns.svc.cluster.local', 'A')), Buffer.from('handler'));
    control[0] = 1;
    assert.notDeepEqual(await ask(buildQuery('small.ns.svc.cluster.local', 'A')), Buffer.from('handler'));
  });

  it('never sends a mix of two answers while another thread rewrites and releases the entry', async () => {
    // A table of its own: its writer is a worker thread, the addon reads it on this thread.
    const memory = sharedAnswersMemory(100);
    const raced = new SharedAnswers(memory);
    const raceControl = new Int32Array([1, ADVERTISED]);
    let natively = 0;
    const raceListener = listenUdpBatch(batchAddon(), { family: 'udp4', host: '127.0.0.1', port: 0 }, { handle: () => Buffer.from('handler'), countNative: () => natively++ }, pino({ level: 'silent' }), false, noUdpSendErrors(), {
      table: raced.views,
      control: raceControl,
      seed: questionKeySeed(),
    });
    const name = 'race.ns.svc.cluster.local';
    // Two answers of different lengths and bytes: any mix of them is neither.
    const answers = [fixedAnswer(records(30, 4, 1), [], records(2, 4, 3)), fixedAnswer(records(50, 20, 2), [], [])];
    const done = new Int32Array(new SharedArrayBuffer(4));
    const writer = tableThread(
      memory,
      `
      const msg = Buffer.from(workerData.question);
      const at = readCommonQuery(msg);
      const answers = workerData.answers.map((a) => ({ ...a, records: Buffer.from(a.records) }));
      parentPort.postMessage('writing');
      for (let round = 0; Atomics.load(workerData.done, 0) === 0 && round < 50_000_000; round++) {
        const ref = table.put(msg, at, answers[round % 2], 'cluster.local', true);
        if (round % 5 === 0 && ref !== null) table.release(ref);
      }
      parentPort.postMessage('done');
      `,
      { done, question: buildQuery(name, 'A'), answers },
    );
    await new Promise<void>((resolve, reject) => {
      writer.once('message', () => resolve());
      writer.once('error', reject);
    });
    const raceClient = createSocket('udp4');
    const got: Buffer[] = [];
    raceClient.on('message', (message) => got.push(message));
    await new Promise<void>((resolve) => raceClient.bind(0, '127.0.0.1', resolve));
    const query = buildQuery(name, 'A', { udpSize: 4096 });
    const common = readCommonQuery(query)!;
    const whole = answers.map((a) => writeFixedResponse(query, common, a, udpLimit(common.edns, ADVERTISED), ADVERTISED));
    // Bursts of the same query, each burst waited for, until 400 answers came from the table.
    for (let burst = 0; burst < 2000 && natively < 400; burst++) {
      const before = got.length;
      for (let i = 0; i < 16; i++) raceClient.send(query, raceListener.port, '127.0.0.1');
      for (let wait = 0; wait < 50 && got.length < before + 16; wait++) await new Promise((r) => setTimeout(r, 1));
    }
    Atomics.store(done, 0, 1);
    await new Promise<void>((resolve) => writer.once('message', () => resolve()));
    await writer.terminate();
    raceClient.close();
    raceListener.close();
    const mixed = got.filter((reply) => !reply.equals(Buffer.from('handler')) && !whole.some((w) => reply.equals(w)));
    assert.ok(natively >= 400, `${natively} answered by the addon`);
    assert.ok(got.some((reply) => reply.equals(whole[0]!)) && got.some((reply) => reply.equals(whole[1]!)), 'both answers were sent');
    assert.equal(mixed.length, 0, `${mixed.length} of ${got.length} replies were neither answer`);
  });

  it('answers a mutated packet as the handler would, or leaves it to the handler', async () => {
    const random = seededRandom(17);
    const bases = [
      buildQuery('small.ns.svc.cluster.local', 'A'),
      buildQuery('glue.ns.svc.cluster.local', 'A', { udpSize: 700, dnssecOk: true }),
      buildQuery('many.ns.svc.cluster.local', 'A', { udpSize: 1232 }),
    ];
    let native = 0;
    for (let n = 0; n < 600; n++) {
      const query = Buffer.from(bases[n % bases.length]!);
      // One to three bytes changed; letters' case flips are most likely to still hit.
      for (let k = 0; k <= n % 3; k++) {
        const at = Math.floor(random() * query.length);
        query[at] = random() < 0.5 ? query[at]! ^ 0x20 : Math.floor(random() * 256);
      }
      const before = counted.length;
      const reply = await ask(query);
      if (counted.length > before) {
        native++;
        assert.deepEqual(reply, typescriptAnswer(table, query), `mutation ${n}: ${query.toString('hex')}`);
      } else {
        assert.deepEqual(reply, Buffer.from('handler'), `mutation ${n} went to the handler`);
      }
    }
    // The corpus reaches both ways.
    assert.ok(native > 50, `${native} answered by the addon`);
    assert.ok(native < 600);
  });
});
