/**
 * Slow start through the real resolver and handler, with a fake clock injected into the view and
 * the router: real query bytes, the first record of each answer counted. Precise shares at 25, 50,
 * 75 and 100 % of the window, the refresh that keeps per-query work flat (an answer stays as
 * prepared until its step is due), SRV weights, and what does not ramp.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { parseObjectsText } from '../../src/sources/objects-file.ts';
import { ClusterView } from '../../src/view/cluster-view.ts';
import { parseSettings } from '../../src/settings/schema.ts';
import { ZoneRouter } from '../../src/resolve/router.ts';
import { QueryHandler } from '../../src/server/handler.ts';
import { RampRefresh } from '../../src/server/ramp-refresh.ts';
import { RAMP_FLOOR } from '../../src/balance/slow-start.ts';
import { buildQuery, decode } from '../helpers/dns-client.ts';
import { objectsList } from '../helpers/in-process.ts';

const OLD = ['10.244.1.1', '10.244.1.2', '10.244.1.3'];
const NEW = '10.244.1.4';
const WINDOW = 100;
const SAMPLES = 4000;

function objects(annotations: Record<string, string>, ready: string[], headless = false) {
  return parseObjectsText(
    objectsList([
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop', annotations }, spec: { clusterIP: headless ? 'None' : '10.96.5.5', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'web-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
        addressType: 'IPv4',
        endpoints: [...OLD, NEW].map((ip) => ({ addresses: [ip], conditions: { ready: ready.includes(ip) } })),
        ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      },
    ]),
    'test objects',
  ).objects;
}

/** lbdns in process at a fake time: NEW becomes ready at t = 0, after the first full list. */
function setup(settings: Record<string, unknown>, annotations: Record<string, string>, headless = false) {
  const clock = { now: -60_000 };
  const now = () => clock.now;
  const view = new ClusterView();
  view.replaceAll(objects(annotations, OLD, headless));
  view.startReadyClock(now);
  clock.now = 0;
  view.replaceAll(objects(annotations, [...OLD, NEW], headless));
  const parsed = parseSettings({ workers: 1, ...settings });
  let handler: QueryHandler;
  const refresh = new RampRefresh((namespace, service) => handler.refreshService(namespace, service), now);
  const router = new ZoneRouter({ view, settings: parsed, serverAddresses: () => ['127.0.0.1'], now, refreshAt: (ns, svc, at) => refresh.schedule(ns, svc, at) });
  handler = new QueryHandler({ router, settings: parsed, state: { ready: true }, log: pino({ level: 'silent' }) });
  const name = 'web.shop.svc.cluster.local';
  /** NEW's share of first records over SAMPLES real queries. */
  const share = (): number => {
    const request = buildQuery(name, 'A');
    let first = 0;
    for (let i = 0; i < SAMPLES; i++) {
      const response = handler.handle(request, 'udp', '127.0.0.1') as Buffer;
      if (decode(response).answers![0]!.data === NEW) first++;
    }
    return first / SAMPLES;
  };
  const srv = () => decode(handler.handle(buildQuery(`_http._tcp.${name}`, 'SRV'), 'tcp', '127.0.0.1') as Buffer).answers!.map((a) => a.data as { weight: number; target: string });
  return { clock, refresh, share, srv };
}

const ramp = (progress: number) => RAMP_FLOOR + (1 - RAMP_FLOOR) * Math.min(1, progress);
/** Within 3 points: about 5 standard deviations at 4,000 samples. */
const near = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 0.03, `${what}: ${(actual * 100).toFixed(1)}% vs ${(expected * 100).toFixed(1)}% expected`);

describe('slow start: shares follow the ramp (fake clock)', () => {
  for (const policy of ['shuffle', 'weighted'] as const) {
    it(`${policy}: the new endpoint's first-record share at 0, 25, 50, 75 and 100 % of the window`, () => {
      // Under weighted, the new endpoint weighs 2 (the old ones 1): the ramp multiplies its weight.
      const weight = policy === 'weighted' ? 2 : 1;
      const { clock, refresh, share } = setup({ balance: { answer: 'endpoints', policy, slowStartSeconds: WINDOW } }, policy === 'weighted' ? { 'lbdns.io/weights': `${NEW}=2` } : {});
      const shares: number[] = [];
      for (const progress of [0, 0.25, 0.5, 0.75, 1]) {
        clock.now = progress * WINDOW * 1000;
        refresh.fire();
        const measured = share();
        const f = ramp(progress) * weight;
        near(measured, f / (OLD.length + f), `${policy} at ${progress * 100}%`);
        shares.push(measured);
      }
      for (let i = 1; i < shares.length; i++) assert.ok(shares[i]! > shares[i - 1]!, `shares rise: ${shares.map((s) => (s * 100).toFixed(1)).join(' < ')}`);
    });
  }

  it('an answer stays as prepared until its step is due: queries in between cost no re-preparation', () => {
    const { clock, refresh, share } = setup({ balance: { answer: 'endpoints', slowStartSeconds: WINDOW } }, {});
    clock.now = 25_000;
    refresh.fire();
    const early = share();
    assert.equal(refresh.pending, 1, 'one refresh pending for the one ramping Service');
    // Half the window later, but the step's timer has not fired: the prepared answer is served.
    clock.now = 50_000;
    near(share(), early, 'before the refresh');
    assert.equal(refresh.fire(), 1);
    const f = ramp(0.5);
    near(share(), f / (OLD.length + f), 'after the refresh');
    // Past the window nothing ramps: no refresh is scheduled any more.
    clock.now = WINDOW * 1000;
    refresh.fire();
    share();
    assert.equal(refresh.pending, 0);
  });

  it('SRV weights carry the ramp', () => {
    const { clock, refresh, srv } = setup({ balance: { answer: 'endpoints', slowStartSeconds: WINDOW } }, {});
    clock.now = 50_000;
    refresh.fire();
    const records = srv();
    const total = records.reduce((s, r) => s + r.weight, 0);
    const fresh = records.find((r) => r.target.startsWith('10-244-1-4.'))!;
    const f = ramp(0.5);
    assert.ok(Math.abs(fresh.weight / total - f / (OLD.length + f)) < 0.001, `${fresh.weight} of ${total}`);
  });

  it('a headless Service ramps with the annotation, not without; off, nothing ramps', () => {
    const annotated = setup({ balance: { slowStartSeconds: 0 } }, { 'lbdns.io/slow-start-seconds': String(WINDOW) }, true);
    near(annotated.share(), ramp(0) / (OLD.length + ramp(0)), 'annotated headless at 0%');
    const plain = setup({ balance: { slowStartSeconds: WINDOW } }, {}, true);
    near(plain.share(), 0.25, 'headless without the annotation');
    assert.equal(plain.refresh.pending, 0);
    const off = setup({ balance: { answer: 'endpoints', slowStartSeconds: 0 } }, {});
    near(off.share(), 0.25, 'slow start off');
    assert.equal(off.refresh.pending, 0);
  });
});
