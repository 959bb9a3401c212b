/** The per-query ordering, with a seeded random source: exact checks of what each step keeps. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fnv1a, makePlan, type BalancedRecord, type PlanOptions } from '../../src/balance/plan.ts';
import { orderRecords } from '../../src/balance/order.ts';
import { ipToBytes } from '../../src/net/ip.ts';
import { commonPrefixLength } from '../../src/net/cidr.ts';
import type { Client } from '../../src/balance/client.ts';
import { seededRandom as seeded } from '../helpers/random.ts';


const records = (ips: string[], weights: number[] = ips.map(() => 1)): BalancedRecord[] =>
  ips.map((ip, i) => ({ weight: weights[i] as number, zones: [], key: ip, address: ipToBytes(ip) }));
const options = (over: Partial<PlanOptions>): PlanOptions => ({ policy: 'weighted', affinity: false, clientSort: 'none', maxAnswers: 0, zoneStrict: false, ...over });
const client = (ip: string, zone: string | null = null): Client => ({ address: ipToBytes(ip), node: null, zone, hash: 0 });

describe('clientSort: rfc6724', () => {
  const ips = ['10.97.1.1', '10.97.1.2', '10.97.1.3', '10.97.1.4', '10.98.0.1'];

  it('keeps only records whose common prefix with the client is no longer than the first one’s', () => {
    const plan = makePlan(options({ clientSort: 'rfc6724' }), records(ips));
    const random = seeded(7);
    for (let i = 0; i < 500; i++) {
      const order = orderRecords(plan, client('10.97.1.5'), random).map((k) => ips[k] as string);
      // 10.97.1.5 shares 29 bits with .1-.4 (...0101 vs ...0001 to ...0100), fewer with 10.98.0.1.
      const prefix = (ip: string) => {
        const a = ipToBytes(ip)!;
        const b = ipToBytes('10.97.1.5')!;
        let bits = 0;
        for (let j = 0; j < 4; j++) {
          const diff = a[j]! ^ b[j]!;
          if (diff === 0) bits += 8;
          else return bits + Math.clz32(diff) - 24;
        }
        return bits;
      };
      assert.ok(order.every((ip) => prefix(ip) <= prefix(order[0]!)), `${order.join(',')}`);
      // 10.97.1.4 shares 31 bits with the client: glibc would put it first, so it goes unless it is first.
      if (order[0] !== '10.97.1.4') assert.ok(!order.includes('10.97.1.4'), `${order.join(',')}`);
      else assert.equal(order.length, ips.length, 'the closest address first keeps every record');
    }
  });

  it('answers one record with single, and caps with maxAnswers', () => {
    assert.equal(orderRecords(makePlan(options({ clientSort: 'single' }), records(ips)), client('10.97.1.5'), seeded(1)).length, 1);
    assert.equal(orderRecords(makePlan(options({ maxAnswers: 2 }), records(ips)), client('10.97.1.5'), seeded(1)).length, 2);
  });
});

describe('weights and zones', () => {
  it('never puts a lighter record first more often than its share (exact race maths, 20,000 draws)', () => {
    const plan = makePlan(options({}), records(['a', 'b', 'c'].map((_, i) => `10.0.0.${i + 1}`), [6, 3, 1]));
    const random = seeded(42);
    const counts = [0, 0, 0];
    for (let i = 0; i < 20_000; i++) counts[orderRecords(plan, client('10.1.0.1'), random)[0]!]!++;
    const shares = counts.map((c) => c / 20_000);
    assert.ok(Math.abs(shares[0]! - 0.6) < 0.015 && Math.abs(shares[1]! - 0.3) < 0.015 && Math.abs(shares[2]! - 0.1) < 0.015, JSON.stringify(shares));
  });

  it('orders same-zone records first and drops the rest when strict', () => {
    const zoned: BalancedRecord[] = [
      { weight: 1, zones: ['b'], key: '1', address: null },
      { weight: 1, zones: ['a'], key: '2', address: null },
      { weight: 1, zones: ['a'], key: '3', address: null },
    ];
    const loose = orderRecords(makePlan(options({ policy: 'zone' }), zoned), client('10.1.0.1', 'a'), seeded(3));
    assert.deepEqual(loose.slice(0, 2).sort(), [1, 2]);
    assert.equal(loose[2], 0);
    assert.deepEqual(orderRecords(makePlan(options({ policy: 'zone', zoneStrict: true }), zoned), client('10.1.0.1', 'a'), seeded(3)).sort(), [1, 2]);
  });
});

describe('a 10,000-record plan: only what is sent is drawn', () => {
  const n = 10_000;
  const ips = Array.from({ length: n }, (_, i) => `10.${60 + Math.floor(i / 62_500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`);
  // Weight classes by index: 3, 1, 1 (a third each).
  const classOf = (index: number) => index % 3;
  const weighted = records(ips, ips.map((_, i) => (classOf(i) === 0 ? 3 : 1)));
  const CRITICAL: Record<number, number> = { 1: 10.83, 2: 13.82, 3: 16.27 };
  const chiSquare = (counts: number[], shares: number[], samples: number) => counts.reduce((sum, c, i) => sum + (c - shares[i]! * samples) ** 2 / (shares[i]! * samples), 0);

  it('returns exactly the budget, every record once, for each policy', () => {
    const zoned = weighted.map((r, i) => ({ ...r, zones: [`zone-${i % 4}`] }));
    for (const over of [{ policy: 'shuffle' }, { policy: 'weighted' }, { policy: 'zone' }, { policy: 'weighted', affinity: true }, { policy: 'zone', affinity: true }] as const) {
      const plan = makePlan(options(over), zoned);
      for (const budget of [1, 73, 4096]) {
        const order = orderRecords(plan, client('10.1.0.1', 'zone-1'), seeded(budget), budget);
        assert.equal(order.length, budget, JSON.stringify(over));
        assert.equal(new Set(order).size, budget, `${JSON.stringify(over)}: no record twice`);
      }
    }
  });

  it('puts each weight class first in proportion to its weight, and the second record likewise', () => {
    const plan = makePlan(options({}), weighted);
    const random = seeded(8);
    const samples = 6000;
    const first = [0, 0, 0];
    const second = [0, 0, 0];
    for (let i = 0; i < samples; i++) {
      const order = orderRecords(plan, client('10.1.0.1'), random, 73);
      first[classOf(order[0]!)]!++;
      second[classOf(order[1]!)]!++;
    }
    assert.ok(chiSquare(first, [0.6, 0.2, 0.2], samples) < CRITICAL[2]!, JSON.stringify(first));
    // The records taken first weigh 3 of 50,000: the second draw has the same shares, to a hair.
    assert.ok(chiSquare(second, [0.6, 0.2, 0.2], samples) < CRITICAL[2]!, JSON.stringify(second));
  });

  it('keeps the client’s zone first and drops the rest when strict', () => {
    // 20 records in zone-a, the rest in zone-b.
    const zoned = weighted.map((r, i) => ({ ...r, zones: [i % 500 === 7 ? 'zone-a' : 'zone-b'] }));
    const inA = (i: number) => i % 500 === 7;
    const random = seeded(4);
    const loose = makePlan(options({ policy: 'zone' }), zoned);
    const strictPlan = makePlan(options({ policy: 'zone', zoneStrict: true }), zoned);
    for (let q = 0; q < 50; q++) {
      const order = orderRecords(loose, client('10.1.0.1', 'zone-a'), random, 73);
      assert.equal(order.length, 73);
      assert.ok(order.slice(0, 20).every(inA) && !order.slice(20).some(inA), 'zone-a records first, then the others');
      const strict = orderRecords(strictPlan, client('10.1.0.1', 'zone-a'), random, 73);
      assert.deepEqual(strict.sort((a, b) => a - b), ips.map((_, i) => i).filter(inA));
    }
  });

  it('trims under rfc6724 exactly as filtering the whole order would', () => {
    const plan = makePlan(options({ policy: 'shuffle', clientSort: 'rfc6724' }), weighted);
    const random = seeded(21);
    const clientIp = '10.60.17.200';
    const clientBytes = ipToBytes(clientIp)!;
    const prefix = ips.map((ip) => commonPrefixLength(ipToBytes(ip)!, clientBytes));
    for (let q = 0; q < 300; q++) {
      const order = orderRecords(plan, client(clientIp), random, q % 2 ? 73 : n);
      const limit = prefix[order[0]!]!;
      assert.ok(order.every((i) => prefix[i]! <= limit), 'nothing that glibc would put first');
      const kept = prefix.filter((p) => p <= limit).length;
      assert.equal(order.length, Math.min(kept, q % 2 ? 73 : n), 'as many as the trim leaves, up to the budget');
      assert.equal(new Set(order).size, order.length);
    }
  });

  it('gives ClientIP affinity a stable first record, spread by weight, that moves only with its own record', () => {
    const plan = makePlan(options({ affinity: true }), weighted);
    const clients = Array.from({ length: 3000 }, (_, i) => ({ address: null, zone: null, hash: fnv1a(`client-${i}`) }) as Client);
    const firsts = clients.map((c) => orderRecords(plan, c, Math.random, 73)[0]!);
    for (const [i, c] of clients.entries()) assert.deepEqual(orderRecords(plan, c, Math.random, 73)[0], firsts[i], 'stable');
    const counts = [0, 0, 0];
    for (const first of firsts) counts[classOf(first)]!++;
    assert.ok(chiSquare(counts, [0.6, 0.2, 0.2], clients.length) < CRITICAL[2]!, JSON.stringify(counts));

    // Without the record client 0 gets first, only that record's clients move.
    const removed = firsts[0]!;
    const remaining = weighted.filter((_, i) => i !== removed);
    const indexOf = (i: number) => (i < removed ? i : i - 1);
    const after = makePlan(options({ affinity: true }), remaining);
    let moved = 0;
    for (const [i, c] of clients.entries()) {
      const now = orderRecords(after, c, Math.random, 73)[0]!;
      if (firsts[i] === removed) moved++;
      else assert.equal(now, indexOf(firsts[i]!), `client ${i} kept its record`);
    }
    assert.ok(moved >= 1);
  });
});
