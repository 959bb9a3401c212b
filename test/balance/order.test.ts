/** The per-query ordering, with a seeded random source: exact checks of what each step keeps. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makePlan, type BalancedRecord, type PlanOptions } from '../../src/balance/plan.ts';
import { orderRecords } from '../../src/balance/order.ts';
import { ipToBytes } from '../../src/net/ip.ts';
import type { Client } from '../../src/balance/client.ts';
import { seededRandom as seeded } from '../helpers/random.ts';


const records = (ips: string[], weights: number[] = ips.map(() => 1)): BalancedRecord[] =>
  ips.map((ip, i) => ({ weight: weights[i] as number, zones: [], key: ip, address: ipToBytes(ip) }));
const options = (over: Partial<PlanOptions>): PlanOptions => ({ policy: 'weighted', affinity: false, clientSort: 'none', maxAnswers: 0, zoneStrict: false, ...over });
const client = (ip: string, zone: string | null = null): Client => ({ address: ipToBytes(ip), zone, hash: 0 });

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
