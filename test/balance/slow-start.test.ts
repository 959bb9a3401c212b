/** Slow start's ramp math, its refresh schedule, the annotation, and the bounded refresh timer. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RAMP_FLOOR, nextRefresh, parseSlowStartSeconds, rampFactor, ramping, refreshStepMs } from '../../src/balance/slow-start.ts';
import { serviceBalance } from '../../src/balance/policy.ts';
import { parseSettings } from '../../src/settings/schema.ts';
import { RampRefresh } from '../../src/server/ramp-refresh.ts';
import type { Service } from '../../src/view/types.ts';

const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} ≠ ${expected}`);

describe('rampFactor: linear from 10% to 100% over the window', () => {
  const since = 1_000_000;
  it('is the floor when first seen, full at the end, linear between', () => {
    close(rampFactor(since, since, 60), RAMP_FLOOR);
    close(rampFactor(since, since + 15_000, 60), 0.1 + 0.9 * 0.25);
    close(rampFactor(since, since + 30_000, 60), 0.55);
    close(rampFactor(since, since + 45_000, 60), 0.1 + 0.9 * 0.75);
    close(rampFactor(since, since + 60_000, 60), 1);
    close(rampFactor(since, since + 3_600_000, 60), 1);
  });
  it('never goes below the floor (a clock that steps back) nor above 1', () => {
    close(rampFactor(since, since - 5000, 60), RAMP_FLOOR);
    for (let t = since - 1000; t < since + 70_000; t += 777) {
      const factor = rampFactor(since, t, 60);
      assert.ok(factor >= RAMP_FLOOR && factor <= 1);
    }
  });
  it('is 1 for an endpoint without a stamp (warm) and when slow start is off', () => {
    assert.equal(rampFactor(undefined, since, 60), 1);
    assert.equal(rampFactor(since, since, 0), 1);
    assert.equal(ramping(undefined, since, 60), false);
    assert.equal(ramping(since, since + 59_999, 60), true);
    assert.equal(ramping(since, since + 60_000, 60), false);
  });
});

describe('the refresh schedule is bounded', () => {
  it('steps are max(1 s, window / 20)', () => {
    assert.equal(refreshStepMs(10), 1000);
    assert.equal(refreshStepMs(20), 1000);
    assert.equal(refreshStepMs(60), 3000);
    assert.equal(refreshStepMs(600), 30_000);
  });
  it('next refresh: one step on, or the end of the first ramp if sooner; none when nothing ramps', () => {
    const now = 10_000_000;
    assert.equal(nextRefresh([undefined, undefined], now, 60), null);
    assert.equal(nextRefresh([now - 60_000], now, 60), null);
    assert.equal(nextRefresh([undefined, now - 10_000], now, 60), now + 3000);
    assert.equal(nextRefresh([now - 59_000, now], now, 60), now + 1000);
    assert.equal(nextRefresh([now], now, 0), null);
  });
  it('a whole ramp costs at most 20 refreshes (plus one per ramp end) whatever the query rate', () => {
    const since = 0;
    let now = since;
    let refreshes = 0;
    // A query every 10 ms through the window: each one prepares only when the last answer is due.
    let due: number | null = null;
    for (; now <= 120_000; now += 10) {
      if (due === null || now >= due) {
        if (due !== null) refreshes++;
        due = nextRefresh([since], now, 60);
        if (due === null) break;
      }
    }
    assert.ok(refreshes <= 21, `${refreshes} refreshes`);
    assert.ok(refreshes >= 19, `${refreshes} refreshes`);
  });
});

describe('lbdns.io/slow-start-seconds', () => {
  const service = (annotations: Record<string, string>, headless = false): Service => ({
    namespace: 'shop',
    name: 'web',
    type: 'ClusterIP',
    clusterIPs: headless ? [] : ['10.96.0.9'],
    headless,
    externalName: null,
    ports: [],
    publishNotReadyAddresses: false,
    sessionAffinity: 'None',
    trafficDistribution: null,
    annotations,
  });
  const settings = parseSettings({ balance: { answer: 'endpoints', slowStartSeconds: 30 } });
  it('parses whole seconds up to a day; anything else is not a value', () => {
    assert.equal(parseSlowStartSeconds('60'), 60);
    assert.equal(parseSlowStartSeconds(' 0 '), 0);
    assert.equal(parseSlowStartSeconds('86400'), 86_400);
    for (const bad of ['', '-5', '1.5', '1e3', '86401', 'ten', '0x10', 'Infinity']) assert.equal(parseSlowStartSeconds(bad), null, bad);
  });
  it('the annotation wins over the settings; a bad one leaves the settings in force', () => {
    assert.equal(serviceBalance(service({}), settings).slowStartSeconds, 30);
    assert.equal(serviceBalance(service({ 'lbdns.io/slow-start-seconds': '90' }), settings).slowStartSeconds, 90);
    assert.equal(serviceBalance(service({ 'lbdns.io/slow-start-seconds': '0' }), settings).slowStartSeconds, 0);
    assert.equal(serviceBalance(service({ 'lbdns.io/slow-start-seconds': 'soon' }), settings).slowStartSeconds, 30);
  });
  it('a headless Service that does not balance ramps only with the annotation; a ClusterIP answer never', () => {
    assert.equal(serviceBalance(service({}, true), settings).slowStartSeconds, 0);
    assert.equal(serviceBalance(service({ 'lbdns.io/slow-start-seconds': '20' }, true), settings).slowStartSeconds, 20);
    assert.equal(serviceBalance(service({ 'lbdns.io/slow-start-seconds': '20' }), parseSettings({ balance: { slowStartSeconds: 30 } })).slowStartSeconds, 0);
  });
  it('the settings key is validated with its name', () => {
    assert.throws(() => parseSettings({ balance: { slowStartSeconds: -1 } }), /balance\.slowStartSeconds/);
    assert.throws(() => parseSettings({ balance: { slowStartSeconds: 1.5 } }), /balance\.slowStartSeconds/);
    assert.throws(() => parseSettings({ balance: { slowStartSeconds: 86_401 } }), /balance\.slowStartSeconds/);
    assert.equal(parseSettings({}).balance.slowStartSeconds, 0);
  });
});

describe('RampRefresh: one due time per Service, one timer', () => {
  it('drops a Service’s answers once when its time comes, however often it was scheduled', () => {
    let now = 1000;
    const dropped: string[] = [];
    const refresh = new RampRefresh((namespace, service) => dropped.push(`${namespace}/${service}`), () => now);
    for (let i = 0; i < 10_000; i++) refresh.schedule('shop', 'web', 5000 + i);
    refresh.schedule('shop', 'api', 7000);
    assert.equal(refresh.pending, 2);
    assert.equal(refresh.fire(), 0);
    now = 5000;
    assert.equal(refresh.fire(), 1);
    assert.deepEqual(dropped, ['shop/web']);
    now = 7000;
    assert.equal(refresh.fire(), 1);
    assert.deepEqual(dropped, ['shop/web', 'shop/api']);
    assert.equal(refresh.pending, 0);
    refresh.close();
  });
  it('an earlier time replaces a later one, never the reverse', () => {
    let now = 0;
    const dropped: string[] = [];
    const refresh = new RampRefresh((_namespace, service) => dropped.push(service), () => now);
    refresh.schedule('shop', 'web', 9000);
    refresh.schedule('shop', 'web', 3000);
    refresh.schedule('shop', 'web', 6000);
    now = 3000;
    assert.equal(refresh.fire(), 1);
    now = 9000;
    assert.equal(refresh.fire(), 0);
    assert.deepEqual(dropped, ['web']);
    refresh.close();
  });
  it('due times round up to whole ticks: Services prepared at different moments are refreshed together', () => {
    let now = 0;
    const dropped: string[] = [];
    const refresh = new RampRefresh((_namespace, service) => dropped.push(service), () => now);
    for (let i = 0; i < 100; i++) refresh.schedule('shop', `svc${i}`, 3001 + i * 9);
    now = 3000;
    assert.equal(refresh.fire(), 0, 'not before the tick');
    now = 4000;
    assert.equal(refresh.fire(), 100, 'all in one run');
    refresh.close();
  });
  it('its timer fires by itself', async () => {
    const dropped: string[] = [];
    const refresh = new RampRefresh((_namespace, service) => dropped.push(service));
    refresh.schedule('shop', 'web', Date.now() + 20);
    for (let i = 0; i < 300 && dropped.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(dropped, ['web']);
    refresh.close();
  });
});
