/**
 * DNS-level balancing through real queries: weights, zones, ClientIP affinity, answer caps,
 * endpoint mode's SRV and fallback. Statistical checks use Pearson's chi-square at p = 0.001.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { asList, namespaceObject } from '../helpers/objects.ts';
import { answerData, query, rcodeOf } from '../helpers/dns-client.ts';

const CRITICAL_0_001: Record<number, number> = { 1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47 };

function chiSquare(counts: Map<string, number>, expectedShares: Record<string, number>, samples: number): number {
  let total = 0;
  for (const [key, share] of Object.entries(expectedShares)) {
    const expected = share * samples;
    total += ((counts.get(key) ?? 0) - expected) ** 2 / expected;
  }
  return total;
}

interface EndpointSpec {
  ip: string;
  zone?: string;
  hostname?: string;
  ready?: boolean;
  hints?: string[];
}

function service(name: string, annotations: Record<string, string>, endpoints: EndpointSpec[], extra: Record<string, unknown> = {}): unknown[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'shop', annotations },
      spec: { clusterIP: `10.96.7.${endpoints.length + name.length}`, ports: [{ name: 'http', port: 8080, protocol: 'TCP', targetPort: 8080 }], ...extra },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace: 'shop', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: endpoints.map((e) => ({
        addresses: [e.ip],
        conditions: { ready: e.ready ?? true },
        ...(e.zone ? { zone: e.zone } : {}),
        ...(e.hostname ? { hostname: e.hostname } : {}),
        ...(e.hints ? { hints: { forZones: e.hints.map((name) => ({ name })) } } : {}),
      })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  ];
}

const endpointMode = { 'lbdns.io/answer': 'endpoints' };
const stickyEndpoints = Array.from({ length: 4 }, (_, i) => ({ ip: `10.244.3.${i + 1}` }));

function objects(sticky: EndpointSpec[] = stickyEndpoints): string {
  return asList([
    namespaceObject('shop'),
    ...service('checkout', { ...endpointMode, 'lbdns.io/policy': 'weighted', 'lbdns.io/weights': '10.244.0.1=4,10.244.0.2=2,10.244.0.3=1,10.244.0.4=1' }, [
      { ip: '10.244.0.1' },
      { ip: '10.244.0.2' },
      { ip: '10.244.0.3' },
      { ip: '10.244.0.4' },
    ]),
    ...service('zonal', { ...endpointMode, 'lbdns.io/policy': 'zone' }, [
      { ip: '10.244.1.1', zone: 'zone-a' },
      { ip: '10.244.1.2', zone: 'zone-a' },
      { ip: '10.244.1.3', zone: 'zone-b' },
      { ip: '10.244.1.4', zone: 'zone-c', hints: ['zone-b'] },
    ]),
    ...service('sticky', { ...endpointMode, 'lbdns.io/policy': 'weighted', 'lbdns.io/weights': '10.244.3.1=3' }, sticky, { sessionAffinity: 'ClientIP' }),
    ...service('drained', { 'lbdns.io/policy': 'weighted', 'lbdns.io/weights': 'web-1=0' }, [
      { ip: '10.244.4.1', hostname: 'web-0' },
      { ip: '10.244.4.2', hostname: 'web-1' },
    ], { clusterIP: 'None' }),
    ...service('capped', { 'lbdns.io/max-answers': '5' }, Array.from({ length: 40 }, (_, i) => ({ ip: `10.244.5.${i + 1}` })), { clusterIP: 'None' }),
    ...service('starting', endpointMode, [{ ip: '10.244.6.1', ready: false }], { clusterIP: '10.96.6.1' }),
  ]);
}

const settings = 'balance:\n  clientZones:\n    127.0.0.0/24: zone-a\n    127.0.1.0/24: zone-b\n';

let server: RunningServer;
let objectsPath: string;
before(async () => {
  objectsPath = tempFile('objects.yaml', objects());
  server = await startLbdns({ objects: objectsPath, config: tempFile('lbdns.yaml', settings) });
});
after(async () => {
  await server.stop();
});

async function firstCounts(name: string, samples: number, from?: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < samples; i++) {
    const first = String(answerData(await query(server.port, name, 'A', { from }), 'A')[0]);
    counts.set(first, (counts.get(first) ?? 0) + 1);
  }
  return counts;
}

describe('endpoint mode', () => {
  it('answers a ClusterIP Service with its endpoints instead of the ClusterIP', async () => {
    const addresses = (answerData(await query(server.port, 'checkout.shop.svc.cluster.local', 'A'), 'A') as string[]).sort();
    assert.deepEqual(addresses, ['10.244.0.1', '10.244.0.2', '10.244.0.3', '10.244.0.4']);
  });

  it('gives SRV targets per endpoint with the endpoint (target) port and weights on the RFC 2782 scale', async () => {
    const records = answerData(await query(server.port, '_http._tcp.checkout.shop.svc.cluster.local', 'SRV'), 'SRV') as Array<{ target: string; port: number; weight: number; priority: number }>;
    assert.equal(records.length, 4);
    assert.ok(records.every((r) => r.port === 8080), 'the EndpointSlice port');
    const byTarget = Object.fromEntries(records.map((r) => [r.target, r.weight]));
    assert.equal(byTarget['10-244-0-1.checkout.shop.svc.cluster.local'], Math.floor((4 / 8) * 65535));
    assert.equal(byTarget['10-244-0-3.checkout.shop.svc.cluster.local'], Math.floor((1 / 8) * 65535));
    assert.ok(records.reduce((sum, r) => sum + r.weight, 0) <= 65535);
  });

  it('falls back to the ClusterIP when no endpoint is ready', async () => {
    assert.deepEqual(answerData(await query(server.port, 'starting.shop.svc.cluster.local', 'A'), 'A'), ['10.96.6.1']);
  });
});

describe('weighted', () => {
  it('puts each endpoint first in proportion to its weight (4:2:1:1)', async () => {
    const samples = 3000;
    const counts = await firstCounts('checkout.shop.svc.cluster.local', samples);
    const shares = { '10.244.0.1': 0.5, '10.244.0.2': 0.25, '10.244.0.3': 0.125, '10.244.0.4': 0.125 };
    const statistic = chiSquare(counts, shares, samples);
    assert.ok(statistic < CRITICAL_0_001[3]!, `chi-square ${statistic.toFixed(2)}: ${JSON.stringify([...counts])}`);
  });

  it('drops a weight-0 endpoint from the Service answer but keeps its hostname record', async () => {
    for (let i = 0; i < 20; i++) assert.deepEqual(answerData(await query(server.port, 'drained.shop.svc.cluster.local', 'A'), 'A'), ['10.244.4.1']);
    assert.deepEqual(answerData(await query(server.port, 'web-1.drained.shop.svc.cluster.local', 'A'), 'A'), ['10.244.4.2']);
  });
});

describe('zone', () => {
  it('puts the client’s zone first, uniformly within it', async () => {
    const samples = 600;
    const counts = await firstCounts('zonal.shop.svc.cluster.local', samples, '127.0.0.9');
    assert.deepEqual([...counts.keys()].sort(), ['10.244.1.1', '10.244.1.2'], 'only zone-a endpoints lead for a zone-a client');
    const statistic = chiSquare(counts, { '10.244.1.1': 0.5, '10.244.1.2': 0.5 }, samples);
    assert.ok(statistic < CRITICAL_0_001[1]!, `chi-square ${statistic.toFixed(2)}`);
    const reply = await query(server.port, 'zonal.shop.svc.cluster.local', 'A', { from: '127.0.0.9' });
    assert.equal(reply.answers?.length, 4, 'other zones follow when not strict');
  });

  it('counts an endpoint hinted for a zone as in that zone', async () => {
    const counts = await firstCounts('zonal.shop.svc.cluster.local', 300, '127.0.1.9');
    assert.deepEqual([...counts.keys()].sort(), ['10.244.1.3', '10.244.1.4']);
  });

  it('gives SRV priority 0 to same-zone targets and 1 to the others', async () => {
    const records = answerData(await query(server.port, '_http._tcp.zonal.shop.svc.cluster.local', 'SRV', { from: '127.0.0.9' }), 'SRV') as Array<{ target: string; priority: number }>;
    const priorities = Object.fromEntries(records.map((r) => [r.target.split('.')[0], r.priority]));
    assert.deepEqual(priorities, { '10-244-1-1': 0, '10-244-1-2': 0, '10-244-1-3': 1, '10-244-1-4': 1 });
  });

  it('drops other zones with zone.strict', async () => {
    const strict = await startLbdns({ objects: objectsPath, config: tempFile('lbdns.yaml', `${settings}  zone:\n    strict: true\n`) });
    try {
      const addresses = (answerData(await query(strict.port, 'zonal.shop.svc.cluster.local', 'A', { from: '127.0.0.9' }), 'A') as string[]).sort();
      assert.deepEqual(addresses, ['10.244.1.1', '10.244.1.2']);
    } finally {
      await strict.stop();
    }
  });
});

describe('ClientIP affinity', () => {
  const clients = Array.from({ length: 400 }, (_, i) => `127.0.${2 + Math.floor(i / 200)}.${(i % 200) + 10}`);

  async function firstOf(client: string): Promise<string> {
    return String(answerData(await query(server.port, 'sticky.shop.svc.cluster.local', 'A', { from: client }), 'A')[0]);
  }

  it('keeps a client on the same first endpoint, spreads clients by weight (3:1:1:1), and moves only a removed endpoint’s clients', async () => {
    const before = new Map<string, string>();
    for (const client of clients) {
      const first = await firstOf(client);
      assert.equal(await firstOf(client), first, `${client} is stable`);
      before.set(client, first);
    }
    const counts = new Map<string, number>();
    for (const first of before.values()) counts.set(first, (counts.get(first) ?? 0) + 1);
    const statistic = chiSquare(counts, { '10.244.3.1': 0.5, '10.244.3.2': 1 / 6, '10.244.3.3': 1 / 6, '10.244.3.4': 1 / 6 }, clients.length);
    assert.ok(statistic < CRITICAL_0_001[3]!, `chi-square ${statistic.toFixed(2)}: ${JSON.stringify([...counts])}`);

    writeFileSync(objectsPath, objects(stickyEndpoints.filter((e) => e.ip !== '10.244.3.2')));
    await server.waitForLog((l) => l.msg === 'objects file reloaded');
    let moved = 0;
    for (const client of clients) {
      const now = await firstOf(client);
      if (before.get(client) === '10.244.3.2') {
        assert.notEqual(now, '10.244.3.2');
        moved++;
      } else {
        assert.equal(now, before.get(client), `${client} kept its endpoint`);
      }
    }
    assert.equal(moved, counts.get('10.244.3.2'));
  });
});

describe('answer caps', () => {
  it('sends at most lbdns.io/max-answers records, and each endpoint gets its turn', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const reply = await query(server.port, 'capped.shop.svc.cluster.local', 'A');
      assert.equal(reply.answers?.length, 5);
      for (const a of answerData(reply, 'A')) seen.add(String(a));
    }
    assert.equal(seen.size, 40);
  });

  it('answers NXDOMAIN instead of the ClusterIP with emptyFallback: nxdomain', async () => {
    const other = await startLbdns({ objects: objectsPath, config: tempFile('lbdns.yaml', 'balance:\n  emptyFallback: nxdomain\n') });
    try {
      assert.equal(rcodeOf(await query(other.port, 'starting.shop.svc.cluster.local', 'A')), 'NXDOMAIN');
    } finally {
      await other.stop();
    }
  });
});

describe('GET /debug/balance', () => {
  it('explains each endpoint’s weight, zone, readiness and expected first-position share', async () => {
    const response = await fetch(`http://127.0.0.1:${server.debugPort}/debug/balance?name=checkout.shop.svc.cluster.local`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as { answer: string; policy: string; portMappings: unknown[]; endpoints: Array<{ address: string; weight: number; weightFrom: string; expectedFirstShare: number; ready: boolean }> };
    assert.equal(body.answer, 'endpoints');
    assert.equal(body.policy, 'weighted');
    assert.deepEqual(body.portMappings, []);
    const byAddress = Object.fromEntries(body.endpoints.map((e) => [e.address, e]));
    assert.equal(byAddress['10.244.0.1']?.weight, 4);
    assert.equal(byAddress['10.244.0.1']?.weightFrom, 'annotation');
    assert.equal(byAddress['10.244.0.1']?.expectedFirstShare, 0.5);
    assert.equal(byAddress['10.244.0.3']?.expectedFirstShare, 0.125);
  });

  it('takes the client’s zone into account', async () => {
    const response = await fetch(`http://127.0.0.1:${server.debugPort}/debug/balance?name=zonal.shop.svc.cluster.local&client=127.0.1.20`);
    const body = (await response.json()) as { client: { zone: string }; endpoints: Array<{ address: string; expectedFirstShare: number }> };
    assert.equal(body.client.zone, 'zone-b');
    assert.deepEqual(Object.fromEntries(body.endpoints.map((e) => [e.address, e.expectedFirstShare])), { '10.244.1.1': 0, '10.244.1.2': 0, '10.244.1.3': 0.5, '10.244.1.4': 0.5 });
  });

  it('says what is wrong with a bad name', async () => {
    assert.equal((await fetch(`http://127.0.0.1:${server.debugPort}/debug/balance?name=example.com`)).status, 400);
    assert.equal((await fetch(`http://127.0.0.1:${server.debugPort}/debug/balance?name=nope.shop.svc.cluster.local`)).status, 404);
  });
});
