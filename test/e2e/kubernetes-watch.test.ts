/**
 * lbdns watching a Kubernetes API server through the real @kubernetes/client-node: the test API
 * server speaks list/watch (bookmarks, 410, bearer auth); answers are checked with real queries.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { within } from '../helpers/wait.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FakeApiServer, type KubeObject } from '../helpers/fake-apiserver.ts';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { answerData, query, rcodeOf } from '../helpers/dns-client.ts';

// A test that throws before its own stop() must not leave an API server that keeps this file running.
after(() => FakeApiServer.stopAll());

function namespace(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}
function service(ns: string, name: string, clusterIP: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns, labels, managedFields: [{ manager: 'kubectl' }] }, spec: { clusterIP, clusterIPs: [clusterIP], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } };
}
function headless(ns: string, name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } };
}
function slice(ns: string, serviceName: string, sliceName: string, ips: string[]): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: sliceName, namespace: ns, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}

const sortedA = async (port: number, name: string) => (answerData(await query(port, name, 'A'), 'A') as string[]).sort();

const eventually = (check: () => Promise<boolean>, limitMs = 5000) => within(limitMs, check, 2);

async function opsStatus(server: RunningServer, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${server.opsPort}${path}`);
  return { status: response.status, body: await response.text() };
}

const FAST_RETRIES = 'kubernetes:\n  retryMaxSeconds: 2\n';

function settingsFile(yaml = FAST_RETRIES): string {
  return tempFile('lbdns.yaml', yaml);
}

async function startAgainst(api: FakeApiServer, settingsYaml = FAST_RETRIES): Promise<RunningServer> {
  const kubeconfig = tempFile('kubeconfig', '');
  api.writeKubeconfig(kubeconfig);
  return startLbdns({ objects: null, config: settingsFile(settingsYaml), args: ['--kubeconfig', kubeconfig] });
}

describe('watching the API', () => {
  let api: FakeApiServer;
  let server: RunningServer;

  before(async () => {
    api = await FakeApiServer.start({ bookmarkIntervalMs: 500 });
    for (const o of [namespace('default'), namespace('shop'), service('default', 'web', '10.96.0.20'), headless('shop', 'db'), slice('shop', 'db', 'db-a', ['10.244.0.1', '10.244.0.2'])]) api.upsert(o);
    server = await startAgainst(api);
    await server.waitForLog((l) => l.msg === 'first sync complete');
  });
  after(async () => {
    await server.stop();
    await api.stop();
  });

  it('serves what the first list returned and reports ready', async () => {
    assert.deepEqual(await sortedA(server.port, 'web.default.svc.cluster.local'), ['10.96.0.20']);
    assert.deepEqual(await sortedA(server.port, 'db.shop.svc.cluster.local'), ['10.244.0.1', '10.244.0.2']);
    assert.equal((await opsStatus(server, '/ready')).status, 200);
    assert.equal((await opsStatus(server, '/health')).status, 200);
  });

  it('asks for bookmarks and resumes watches from a resourceVersion', async () => {
    const watches = api.requests.filter((r) => r.watch && r.path === '/api/v1/services');
    assert.ok(watches.length >= 1);
    assert.equal(watches[0]!.query.allowWatchBookmarks, 'true');
    assert.ok(Number(watches[0]!.query.resourceVersion) > 0, 'a watch starts where the list ended');
  });

  it('applies added, changed and deleted objects within milliseconds', async () => {
    const timings: Record<string, number> = {};
    api.upsert(service('default', 'api', '10.96.0.30'));
    timings.added = await eventually(async () => (await sortedA(server.port, 'api.default.svc.cluster.local'))[0] === '10.96.0.30');
    api.upsert(slice('shop', 'db', 'db-a', ['10.244.0.1', '10.244.0.3']));
    timings.endpointsChanged = await eventually(async () => (await sortedA(server.port, 'db.shop.svc.cluster.local')).join() === '10.244.0.1,10.244.0.3');
    api.upsert(slice('shop', 'db', 'db-b', ['10.244.0.9']));
    timings.sliceAdded = await eventually(async () => (await sortedA(server.port, 'db.shop.svc.cluster.local')).length === 3);
    api.remove('Service', 'default', 'api');
    timings.deleted = await eventually(async () => rcodeOf(await query(server.port, 'api.default.svc.cluster.local', 'A')) === 'NXDOMAIN');
    console.log(`# API event to changed answer (ms): ${JSON.stringify(Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])))}`);
  });

  it('re-watches from the last resourceVersion when the server closes watches, without listing again', async () => {
    const listsBefore = api.requests.filter((r) => !r.watch && r.path === '/api/v1/services').length;
    api.closeWatches();
    await api.waitForWatches('Service', 1, 5000);
    api.upsert(service('default', 'after-close', '10.96.0.40'));
    await eventually(async () => (await sortedA(server.port, 'after-close.default.svc.cluster.local'))[0] === '10.96.0.40');
    assert.equal(api.requests.filter((r) => !r.watch && r.path === '/api/v1/services').length, listsBefore, 'no relist after a clean close');
  });

  it('lists again on 410 Gone and keeps no record the new list lacks', async () => {
    // Changes lbdns cannot see as events: made while its watches are cut, then history compacted.
    await api.stop();
    api.remove('Service', 'default', 'after-close');
    api.upsert(service('default', 'born-in-outage', '10.96.0.50'));
    api.compact();
    assert.deepEqual(await sortedA(server.port, 'after-close.default.svc.cluster.local'), ['10.96.0.40'], 'the last known records serve while the API is down');
    await api.restart();
    await eventually(async () => rcodeOf(await query(server.port, 'after-close.default.svc.cluster.local', 'A')) === 'NXDOMAIN', 15_000);
    assert.deepEqual(await sortedA(server.port, 'born-in-outage.default.svc.cluster.local'), ['10.96.0.50']);
    await server.waitForLog((l) => String(l.msg).startsWith('resourceVersion expired (410)') || (l.msg === 'listing' && l.reason === 'expired'));
  });
});

describe('lists in pages', () => {
  it('serves every object of a list that takes many pages, each asked for with the last page’s continue token', async () => {
    const api = await FakeApiServer.start({ bookmarkIntervalMs: 500 });
    api.upsert(namespace('default'));
    for (let i = 0; i < 35; i++) api.upsert(service('default', `svc${i}`, `10.96.1.${i + 1}`));
    const server = await startAgainst(api, `${FAST_RETRIES}  pageSize: 10\n`);
    try {
      await server.waitForLog((l) => l.msg === 'first sync complete');
      for (const i of [0, 9, 10, 34]) assert.deepEqual(await sortedA(server.port, `svc${i}.default.svc.cluster.local`), [`10.96.1.${i + 1}`]);
      const lists = api.requests.filter((r) => !r.watch && r.path === '/api/v1/services');
      assert.equal(lists.length, 4, JSON.stringify(lists.map((r) => r.query)));
      assert.ok(lists.every((r) => r.query.limit === '10'));
      assert.equal(lists.filter((r) => r.query.continue).length, 3);
    } finally {
      await server.stop();
      await api.stop();
    }
  });
});

describe('an API outage', () => {
  it('keeps every record serving while the API is down for 30 s, says the data is stale, and resyncs after', async () => {
    const api = await FakeApiServer.start({ bookmarkIntervalMs: 500 });
    for (const o of [namespace('default'), service('default', 'web', '10.96.0.20'), service('default', 'old', '10.96.0.21')]) api.upsert(o);
    const server = await startAgainst(api);
    try {
      await server.waitForLog((l) => l.msg === 'first sync complete');
      await api.stop();
      const downAt = performance.now();
      await server.waitForLog((l) => String(l.msg).includes('serving the last known records (stale)'), 10_000);
      const metrics = await opsStatus(server, '/metrics');
      assert.match(metrics.body, /^lbdns_kubernetes_stale 1$/m);
      api.remove('Service', 'default', 'old');
      api.upsert(service('default', 'new', '10.96.0.22'));
      while (performance.now() - downAt < 30_000) {
        assert.deepEqual(await sortedA(server.port, 'web.default.svc.cluster.local'), ['10.96.0.20'], 'no record is lost while the API is down');
        assert.equal((await opsStatus(server, '/ready')).status, 200, 'still ready: answers are served');
        await new Promise((r) => setTimeout(r, 1000));
      }
      await api.restart();
      await eventually(async () => rcodeOf(await query(server.port, 'old.default.svc.cluster.local', 'A')) === 'NXDOMAIN', 10_000);
      assert.deepEqual(await sortedA(server.port, 'new.default.svc.cluster.local'), ['10.96.0.22']);
      await server.waitForLog((l) => l.msg === 'Kubernetes API reachable again: records are current', 10_000);
      assert.match((await opsStatus(server, '/metrics')).body, /^lbdns_kubernetes_stale 0$/m);
    } finally {
      await server.stop();
      await api.stop();
    }
  });
});

describe('before the first sync', () => {
  it('answers SERVFAIL and /ready 503 until every kind has listed', async () => {
    const api = await FakeApiServer.start();
    for (const o of [namespace('default'), service('default', 'web', '10.96.0.20')]) api.upsert(o);
    await api.stop();
    const server = await startAgainst(api);
    try {
      assert.equal(rcodeOf(await query(server.port, 'web.default.svc.cluster.local', 'A')), 'SERVFAIL');
      assert.equal(rcodeOf(await query(server.port, 'nope.default.svc.cluster.local', 'A')), 'SERVFAIL', 'never NXDOMAIN before the data is there');
      assert.equal((await opsStatus(server, '/ready')).status, 503);
      await api.restart();
      await server.waitForLog((l) => l.msg === 'first sync complete', 10_000);
      assert.equal((await opsStatus(server, '/ready')).status, 200);
      assert.deepEqual(await sortedA(server.port, 'web.default.svc.cluster.local'), ['10.96.0.20']);
    } finally {
      await server.stop();
      await api.stop();
    }
  });
});

describe('credentials', () => {
  it('logs a clear error for a wrong token and keeps retrying until it is right', async () => {
    const api = await FakeApiServer.start({ token: 'the-right-token' });
    api.upsert(namespace('default'));
    api.upsert(service('default', 'web', '10.96.0.20'));
    const kubeconfig = tempFile('kubeconfig', '');
    api.writeKubeconfig(kubeconfig, { token: 'a-wrong-token' });
    const server = await startLbdns({ objects: null, config: settingsFile(), args: ['--kubeconfig', kubeconfig] });
    try {
      const line = await server.waitForLog((l) => l.code === 401, 10_000);
      assert.match(String(line.err), /token/);
      const before = api.requests.filter((r) => r.status === 401).length;
      await eventually(async () => api.requests.filter((r) => r.status === 401).length > before + 1, 10_000);
      api.writeKubeconfig(kubeconfig, { token: 'the-right-token' });
      await server.waitForLog((l) => l.msg === 'first sync complete', 15_000);
      assert.deepEqual(await sortedA(server.port, 'web.default.svc.cluster.local'), ['10.96.0.20']);
    } finally {
      await server.stop();
      await api.stop();
    }
  });

  it('runs in-cluster: service-account token and CA over HTTPS, and follows a rotated token', async () => {
    const api = await FakeApiServer.start({ tls: true, token: 'token-1' });
    api.upsert(namespace('default'));
    api.upsert(service('default', 'web', '10.96.0.20'));
    const root = dirname(tempFile('placeholder', ''));
    const accountDir = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(accountDir, { recursive: true });
    writeFileSync(join(accountDir, 'token'), 'token-1');
    writeFileSync(join(accountDir, 'ca.crt'), api.caPem!);
    writeFileSync(join(accountDir, 'namespace'), 'kube-system');
    const server = await startLbdns({
      objects: null,
      config: settingsFile(),
      env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port), LBDNS_SERVICE_ACCOUNT_ROOT: root, KUBECONFIG: '' },
    });
    try {
      await server.waitForLog((l) => l.msg === 'first sync complete', 10_000);
      assert.deepEqual(await sortedA(server.port, 'web.default.svc.cluster.local'), ['10.96.0.20']);
      // The kubelet rotates the projected token; the API server stops accepting the old one.
      writeFileSync(join(accountDir, 'token'), 'token-2');
      api.token = 'token-2';
      api.closeWatches();
      api.upsert(service('default', 'rotated', '10.96.0.60'));
      await eventually(async () => (await sortedA(server.port, 'rotated.default.svc.cluster.local'))[0] === '10.96.0.60', 15_000);
    } finally {
      await server.stop();
      await api.stop();
    }
  });
});

describe('what is watched', () => {
  it('falls back to v1 Endpoints on a cluster without the EndpointSlice API', async () => {
    const api = await FakeApiServer.start({ endpointSlices: false });
    api.upsert(namespace('shop'));
    api.upsert(headless('shop', 'db'));
    api.upsert({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'db', namespace: 'shop' }, subsets: [{ addresses: [{ ip: '10.244.3.3', hostname: 'db-0' }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }] });
    const server = await startAgainst(api);
    try {
      await server.waitForLog((l) => l.msg === 'first sync complete', 10_000);
      assert.deepEqual(await sortedA(server.port, 'db-0.db.shop.svc.cluster.local'), ['10.244.3.3']);
    } finally {
      await server.stop();
      await api.stop();
    }
  });

  it('scopes to listed namespaces and a Service label selector, and watches pods only for pods: verified', async () => {
    const api = await FakeApiServer.start();
    for (const o of [namespace('a'), namespace('b'), service('a', 'one', '10.96.1.1', { dns: 'yes' }), service('a', 'two', '10.96.1.2'), service('b', 'three', '10.96.1.3', { dns: 'yes' })]) api.upsert(o);
    api.upsert({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'a' }, status: { phase: 'Running', podIP: '10.244.9.9', podIPs: [{ ip: '10.244.9.9' }] } });
    const server = await startAgainst(api, 'namespaces: [a]\npods: verified\nkubernetes:\n  labels: dns=yes\n  retryMaxSeconds: 2\n');
    try {
      await server.waitForLog((l) => l.msg === 'first sync complete', 10_000);
      assert.deepEqual(await sortedA(server.port, 'one.a.svc.cluster.local'), ['10.96.1.1']);
      assert.equal(rcodeOf(await query(server.port, 'two.a.svc.cluster.local', 'A')), 'NXDOMAIN', 'filtered by the label selector');
      assert.equal(rcodeOf(await query(server.port, 'three.b.svc.cluster.local', 'A')), 'NXDOMAIN', 'namespace b is not served');
      assert.deepEqual(await sortedA(server.port, '10-244-9-9.a.pod.cluster.local'), ['10.244.9.9']);
      const podWatch = api.requests.find((r) => r.path === '/api/v1/pods' && r.watch);
      assert.ok(podWatch, 'pods are watched');
      assert.equal(api.requests.find((r) => r.path === '/api/v1/services')?.query.labelSelector, 'dns=yes');
    } finally {
      await server.stop();
      await api.stop();
    }
  });

  it('lists and watches Nodes, and places a client by its Node’s pod CIDR and zone label as they change', async () => {
    const api = await FakeApiServer.start();
    const node = (name: string, zone: string, cidr: string): KubeObject => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'topology.kubernetes.io/zone': zone } }, spec: { podCIDR: cidr, podCIDRs: [cidr] } });
    for (const o of [namespace('shop'), headless('shop', 'db'), slice('shop', 'db', 'db-a', ['10.244.0.1']), node('node-a', 'zone-a', '10.244.1.0/24')]) api.upsert(o);
    const server = await startAgainst(api);
    const placement = async (client: string) => {
      const response = await fetch(`http://127.0.0.1:${server.debugPort}/debug/balance?name=db.shop.svc.cluster.local&client=${client}`);
      return ((await response.json()) as { client: unknown }).client;
    };
    try {
      await server.waitForLog((l) => l.msg === 'first sync complete', 10_000);
      // Answers do not wait for Nodes: the first list may land just after ready.
      await eventually(async () => ((await placement('10.244.1.9')) as { node: string | null }).node === 'node-a');
      assert.ok(api.requests.some((r) => r.path === '/api/v1/nodes' && !r.watch), 'Nodes are listed');
      assert.deepEqual(await placement('10.244.1.9'), { address: '10.244.1.9', node: 'node-a', zone: 'zone-a', placedBy: 'podCIDR', zoneBy: 'node' });
      api.upsert(node('node-b', 'zone-b', '10.244.2.0/24'));
      await eventually(async () => ((await placement('10.244.2.9')) as { node: string | null }).node === 'node-b');
      assert.ok(api.requests.some((r) => r.path === '/api/v1/nodes' && r.watch), 'Nodes are watched');
      api.upsert(node('node-a', 'zone-c', '10.244.1.0/24'));
      await eventually(async () => ((await placement('10.244.1.9')) as { zone: string | null }).zone === 'zone-c');
      api.remove('Node', undefined, 'node-a');
      await eventually(async () => ((await placement('10.244.1.9')) as { node: string | null }).node === null);
    } finally {
      await server.stop();
      await api.stop();
    }
  });

  it('serves without Nodes when the ClusterRole does not grant them yet (answers never wait for Nodes)', async () => {
    const api = await FakeApiServer.start();
    for (const o of [namespace('default'), service('default', 'web', '10.96.0.20')]) api.upsert(o);
    api.failNext(403, 1_000_000, (r) => r.path === '/api/v1/nodes');
    const server = await startAgainst(api);
    try {
      await server.waitForLog((l) => l.msg === 'first sync complete', 10_000);
      assert.deepEqual(await sortedA(server.port, 'web.default.svc.cluster.local'), ['10.96.0.20']);
      assert.equal((await opsStatus(server, '/ready')).status, 200);
      assert.match((await opsStatus(server, '/metrics')).body, /^lbdns_kubernetes_stale 0$/m, 'answers are not stale for want of Nodes');
    } finally {
      await server.stop();
      await api.stop();
    }
  });

  it('restarts a watch that goes silent (no events, no bookmarks)', async () => {
    const api = await FakeApiServer.start({ bookmarkIntervalMs: 600_000 });
    api.upsert(namespace('default'));
    const server = await startAgainst(api, 'kubernetes:\n  watchIdleSeconds: 5\n  retryMaxSeconds: 2\n');
    try {
      await server.waitForLog((l) => l.msg === 'first sync complete', 10_000);
      await server.waitForLog((l) => l.msg === 'watch silent for too long; restarting it', 15_000);
      api.upsert(service('default', 'late', '10.96.0.70'));
      await eventually(async () => (await sortedA(server.port, 'late.default.svc.cluster.local'))[0] === '10.96.0.70', 5000);
    } finally {
      await server.stop();
      await api.stop();
    }
  });
});
