/** Who may start upstream queries: per client prefix, clients together, background refreshes apart. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { REFRESH_HOLDER, UpstreamSlots, clientPrefix } from '../../src/forward/upstream-slots.ts';

describe('clientPrefix', () => {
  for (const [client, v4, v6, expected] of [
    ['10.244.1.7', 32, 128, '10.244.1.7/32'],
    ['10.244.1.7', 24, 128, '10.244.1.0/24'],
    ['::ffff:10.244.1.7', 24, 128, '10.244.1.0/24'],
    ['fd00:10:244:1::7', 32, 64, 'fd000010024400010000000000000000/64'],
    ['fd00:10:244:1::7', 32, 128, 'fd000010024400010000000000000007/128'],
    ['not an address', 32, 128, 'not an address'],
  ] as const) {
    it(`${client} /${v4} /${v6} → ${expected}`, () => assert.equal(clientPrefix(client, v4, v6), expected));
  }
});

describe('UpstreamSlots', () => {
  const limits = { total: 5, perClient: 2, ipv4PrefixLength: 32, ipv6PrefixLength: 128 };

  it('holds each client to its share and clients together to the total', () => {
    const slots = new UpstreamSlots(limits);
    const a = slots.holderOf('10.0.0.1');
    assert.deepEqual([slots.take(a), slots.take(a), slots.take(a)], [true, true, false]);
    const others = ['10.0.0.2', '10.0.0.3'].map((c) => slots.holderOf(c));
    assert.deepEqual([slots.take(others[0]!), slots.take(others[0]!), slots.take(others[1]!), slots.take(others[1]!)], [true, true, true, false], 'the fifth slot is the last');
    slots.release(a);
    assert.equal(slots.take(others[1]!), true, 'a released slot is free again');
  });

  it('keeps background refreshes apart from the clients’ total, with their own share', () => {
    const slots = new UpstreamSlots(limits);
    for (const client of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) while (slots.take(slots.holderOf(client)));
    assert.equal(slots.take(slots.holderOf('10.0.0.4')), false, 'clients have every slot');
    assert.deepEqual([slots.take(REFRESH_HOLDER), slots.take(REFRESH_HOLDER), slots.take(REFRESH_HOLDER)], [true, true, false]);
  });

  it('forgets a holder once it holds nothing', () => {
    const slots = new UpstreamSlots(limits);
    const a = slots.holderOf('10.0.0.1');
    slots.take(a);
    slots.release(a);
    assert.equal(slots.heldBy(a), 0);
    for (let i = 0; i < 5; i++) assert.equal(slots.take(slots.holderOf(`10.0.1.${i}`)), true);
  });
});
