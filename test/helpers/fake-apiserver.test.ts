/**
 * The fake API server, driven by the real @kubernetes/client-node: if these pass, code under test
 * that lists and watches through that client sees what it would see against a real cluster.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { FakeApiServer, type KubeObject } from './fake-apiserver.ts';

const scratch = mkdtempSync(join(tmpdir(), 'fake-apiserver-test-'));
let configCount = 0;

function kubeConfigFor(fake: FakeApiServer, options: { token?: string; tokenFile?: string } = {}): k8s.KubeConfig {
  const path = join(scratch, `kubeconfig-${++configCount}.yaml`);
  fake.writeKubeconfig(path, options);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

function service(namespace: string, name: string, labels?: Record<string, string>, clusterIP = '10.96.0.10'): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace, ...(labels ? { labels } : {}) }, spec: { clusterIP, ports: [{ port: 80, protocol: 'TCP' }] } };
}

interface Seen {
  type: string;
  object: { kind?: string; apiVersion?: string; metadata?: { name?: string; resourceVersion?: string }; code?: number; reason?: string; message?: string };
}

/** One watch through the real client, with its events and how it ended. */
class Watching {
  events: Seen[] = [];
  ended: Promise<unknown>;
  controller: AbortController | undefined;
  #end: (err: unknown) => void = () => {};

  constructor() {
    this.ended = new Promise((resolve) => (this.#end = resolve));
  }

  static async open(kc: k8s.KubeConfig, path: string, params: Record<string, string | number | boolean | undefined>): Promise<Watching> {
    const w = new Watching();
    w.controller = await new k8s.Watch(kc).watch(path, params, (type, object) => w.events.push({ type, object }), (err) => w.#end(err ?? null));
    return w;
  }

  async waitFor(match: (events: Seen[]) => boolean, timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!match(this.events)) {
      if (Date.now() > deadline) assert.fail(`watch events not as expected within ${timeoutMs} ms: ${JSON.stringify(this.events.map((e) => e.type))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async endedWithin(timeoutMs = 2000): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`watch did not end within ${timeoutMs} ms`)), timeoutMs)));
    try {
      return await Promise.race([this.ended, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.controller?.abort();
  }
}

const names = (events: Seen[]) => events.map((e) => `${e.type} ${e.object.metadata?.name ?? ''}`.trim());

async function withFake(options: Parameters<typeof FakeApiServer.start>[0], body: (fake: FakeApiServer) => Promise<void>): Promise<void> {
  const fake = await FakeApiServer.start(options);
  try {
    await body(fake);
  } finally {
    await fake.stop();
  }
}

describe('fake API server', () => {
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('lists with a consistent snapshot across pages and selectors', () =>
    withFake({}, async (fake) => {
      for (const [ns, name] of [['b', 'one'], ['a', 'two'], ['a', 'one'], ['c', 'x'], ['b', 'two']] as const) {
        fake.upsert(service(ns, name, { app: name, tier: ns === 'c' ? 'db' : 'web' }));
      }
      const core = kubeConfigFor(fake).makeApiClient(k8s.CoreV1Api);

      const first = await core.listServiceForAllNamespaces({ limit: 2 });
      assert.deepEqual(first.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`), ['a/one', 'a/two']);
      assert.equal(first.metadata?.resourceVersion, '6');
      assert.equal(first.metadata?.remainingItemCount, 3);
      assert.ok(first.metadata?._continue);

      // Changes after the first page must not leak into the rest of it.
      fake.upsert(service('b', 'aaa'));
      fake.remove('Service', 'c', 'x');
      const second = await core.listServiceForAllNamespaces({ limit: 2, _continue: first.metadata._continue });
      assert.deepEqual(second.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`), ['b/one', 'b/two']);
      assert.equal(second.metadata?.resourceVersion, '6');
      const third = await core.listServiceForAllNamespaces({ limit: 2, _continue: second.metadata?._continue });
      assert.deepEqual(third.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`), ['c/x']);
      assert.equal(third.metadata?._continue, undefined);

      const current = await core.listServiceForAllNamespaces();
      assert.equal(current.metadata?.resourceVersion, '8');
      assert.equal(current.items.length, 5);

      const web = await core.listServiceForAllNamespaces({ labelSelector: 'tier=web,app!=two' });
      assert.deepEqual(web.items.map((s) => s.metadata?.name), ['one', 'one']);
      assert.deepEqual((await core.listServiceForAllNamespaces({ labelSelector: '!app' })).items.map((s) => s.metadata?.name), ['aaa']);
      assert.deepEqual((await core.listServiceForAllNamespaces({ labelSelector: 'app in (two, x)' })).items.length, 2);
      assert.deepEqual((await core.listNamespacedService({ namespace: 'b', fieldSelector: 'metadata.name=two' })).items.map((s) => s.metadata?.uid !== undefined), [true]);

      // As on the wire from a real API server: list items carry no kind or apiVersion.
      const raw = (await (await fetch(`${fake.url}/api/v1/namespaces/a/services`, { headers: { Authorization: `Bearer ${fake.token}` } })).json()) as {
        kind: string;
        apiVersion: string;
        items: Record<string, unknown>[];
      };
      assert.equal(raw.kind, 'ServiceList');
      assert.equal(raw.apiVersion, 'v1');
      assert.equal(raw.items.length, 2);
      assert.ok(raw.items.every((i) => !('kind' in i) && !('apiVersion' in i)));
      assert.deepEqual(
        fake.requests.filter((r) => r.path === '/api/v1/services').map((r) => [r.status, r.watch]),
        Array(7).fill([200, false]),
      );
    }));

  it('watches from a resourceVersion: replays what came after it, then live ADDED/MODIFIED/DELETED', () =>
    withFake({}, async (fake) => {
      fake.upsert(service('a', 'old'));
      const kc = kubeConfigFor(fake);
      const listed = await kc.makeApiClient(k8s.CoreV1Api).listServiceForAllNamespaces();
      const from = listed.metadata?.resourceVersion;
      const missed = fake.upsert(service('a', 'missed'));

      const watch = await Watching.open(kc, '/api/v1/services', { resourceVersion: from });
      await fake.waitForWatches('Service');
      const added = fake.upsert(service('a', 'new'));
      const modified = fake.upsert(service('a', 'new', { changed: 'yes' }));
      fake.remove('Service', 'a', 'new');
      await watch.waitFor((e) => e.length === 4);
      assert.deepEqual(names(watch.events), ['ADDED missed', 'ADDED new', 'MODIFIED new', 'DELETED new']);
      assert.deepEqual(
        watch.events.map((e) => e.object.metadata?.resourceVersion),
        [missed, added, modified, String(Number(modified) + 1)],
      );
      // Watch events carry their type meta, unlike list items.
      assert.ok(watch.events.every((e) => e.object.kind === 'Service' && e.object.apiVersion === 'v1'));
      assert.equal(fake.requests.at(-1)?.watch, true);
      watch.close();
      assert.equal(((await watch.endedWithin()) as Error).name, 'AbortError');

      // Without a resourceVersion: the current state as synthetic ADDED events.
      const fresh = await Watching.open(kc, '/api/v1/namespaces/a/services', {});
      await fresh.waitFor((e) => e.length === 2);
      assert.deepEqual(names(fresh.events), ['ADDED missed', 'ADDED old']);
      fresh.close();
    }));

  it('sends an object leaving a label selector as DELETED', () =>
    withFake({}, async (fake) => {
      fake.upsert(service('a', 's', { role: 'dns' }));
      const watch = await Watching.open(kubeConfigFor(fake), '/api/v1/services', { labelSelector: 'role=dns' });
      await watch.waitFor((e) => e.length === 1);
      fake.upsert(service('a', 's', { role: 'other' }));
      fake.upsert(service('a', 's', { role: 'dns' }));
      fake.upsert(service('a', 'unrelated'));
      await watch.waitFor((e) => e.length === 3);
      assert.deepEqual(names(watch.events), ['ADDED s', 'DELETED s', 'ADDED s']);
      watch.close();
    }));

  it('sends bookmarks only to watches that ask for them', () =>
    withFake({ bookmarkIntervalMs: 30 }, async (fake) => {
      const kc = kubeConfigFor(fake);
      const withBookmarks = await Watching.open(kc, '/api/v1/services', { allowWatchBookmarks: true });
      const without = await Watching.open(kc, '/api/v1/services', {});
      const rv = fake.upsert(service('a', 's'));
      // A bookmark may tick before the upsert is seen (every 30 ms); the ones after it carry its version.
      const afterAdded = (events: typeof withBookmarks.events) => events.slice(events.findIndex((x) => x.type === 'ADDED') + 1);
      await withBookmarks.waitFor((e) => e.some((x) => x.type === 'ADDED') && afterAdded(e).filter((x) => x.type === 'BOOKMARK').length >= 2);
      const bookmark = afterAdded(withBookmarks.events).find((e) => e.type === 'BOOKMARK');
      assert.deepEqual(bookmark?.object, { kind: 'Service', apiVersion: 'v1', metadata: { resourceVersion: rv } });
      assert.deepEqual(names(without.events), ['ADDED s']);
      withBookmarks.close();
      without.close();
    }));

  it('after compact, expires open watches with a 410 ERROR event and lists or watches from before it', () =>
    withFake({}, async (fake) => {
      fake.upsert(service('a', 's'));
      const kc = kubeConfigFor(fake);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const oldRV = (await core.listServiceForAllNamespaces()).metadata?.resourceVersion;
      const watch = await Watching.open(kc, '/api/v1/services', { resourceVersion: oldRV, allowWatchBookmarks: true });
      await fake.waitForWatches('Service');
      fake.upsert(service('a', 't'));
      fake.compact();

      // The client hands the 410 to the event callback and then ends the watch cleanly.
      assert.equal(await watch.endedWithin(), null);
      assert.deepEqual(watch.events.map((e) => e.type), ['ADDED', 'ERROR']);
      assert.deepEqual(watch.events[1]?.object, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${fake.resourceVersion} (${fake.resourceVersion})`,
        reason: 'Expired',
        code: 410,
      });
      assert.equal(fake.openWatches(), 0);

      await assert.rejects(core.listServiceForAllNamespaces({ resourceVersion: oldRV }), (err: k8s.ApiException<string>) => {
        assert.equal(err.code, 410);
        assert.match(err.body, /"reason":"Expired"/);
        return true;
      });
      const late = await Watching.open(kc, '/api/v1/services', { resourceVersion: oldRV });
      assert.equal(await late.endedWithin(), null);
      assert.deepEqual(late.events.map((e) => [e.type, e.object.code, e.object.message]), [['ERROR', 410, `too old resource version: ${oldRV} (${fake.resourceVersion})`]]);

      // From the compaction point on, everything works again.
      const current = await core.listServiceForAllNamespaces({ resourceVersion: fake.resourceVersion });
      assert.equal(current.items.length, 2);
    }));

  it('answers 401 with a Status to a wrong token, to lists and watches alike', () =>
    withFake({ token: 'right' }, async (fake) => {
      const kc = kubeConfigFor(fake, { token: 'wrong' });
      await assert.rejects(kc.makeApiClient(k8s.CoreV1Api).listNamespace(), (err: k8s.ApiException<unknown>) => err.code === 401);
      const watch = await Watching.open(kc, '/api/v1/pods', {});
      const err = (await watch.endedWithin()) as Error & { statusCode?: number };
      assert.equal(err.message, 'Unauthorized');
      assert.equal(err.statusCode, 401);
      assert.deepEqual(
        fake.requests.map((r) => [r.path, r.status, r.watch]),
        [
          ['/api/v1/namespaces', 401, false],
          ['/api/v1/pods', 401, true],
        ],
      );
      const body = await (await fetch(`${fake.url}/version`)).json();
      assert.deepEqual(body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });

      const tokenFile = join(scratch, 'token');
      writeFileSync(tokenFile, 'right\n');
      const ok = await kubeConfigFor(fake, { tokenFile }).makeApiClient(k8s.CoreV1Api).listNamespace();
      assert.equal(ok.items.length, 0);
    }));

  it('fails requests on demand with failNext', () =>
    withFake({}, async (fake) => {
      const core = kubeConfigFor(fake).makeApiClient(k8s.CoreV1Api);
      fake.failNext(500, 1, (r) => r.path === '/api/v1/pods');
      assert.equal((await core.listNamespace()).items.length, 0);
      await assert.rejects(core.listPodForAllNamespaces(), (err: k8s.ApiException<string>) => err.code === 500);
      assert.equal((await core.listPodForAllNamespaces()).items.length, 0);
      const failed = await fake.waitForRequest((r) => r.status === 500);
      assert.equal(failed.path, '/api/v1/pods');
    }));

  it('closeWatches ends open watches cleanly; timeoutSeconds does too', () =>
    withFake({}, async (fake) => {
      const kc = kubeConfigFor(fake);
      const services = await Watching.open(kc, '/api/v1/services', {});
      const slices = await Watching.open(kc, '/apis/discovery.k8s.io/v1/namespaces/a/endpointslices', {});
      await fake.waitForWatches(undefined, 2);
      assert.equal(fake.openWatches('EndpointSlice'), 1);
      fake.closeWatches();
      assert.equal(await services.endedWithin(), null);
      assert.equal(await slices.endedWithin(), null);
      assert.equal(fake.openWatches(), 0);

      const short = await Watching.open(kc, '/api/v1/endpoints', { timeoutSeconds: 1 });
      const started = Date.now();
      assert.equal(await short.endedWithin(3000), null);
      assert.ok(Date.now() - started >= 900);
    }));

  it('stop() breaks connections and restart() serves the same state on the same port', () =>
    withFake({}, async (fake) => {
      const rv = fake.upsert(service('a', 's'));
      const kc = kubeConfigFor(fake);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const watch = await Watching.open(kc, '/api/v1/services', { resourceVersion: rv });
      await fake.waitForWatches('Service');
      const port = fake.port;

      await fake.stop();
      const err = (await watch.endedWithin()) as Error;
      assert.ok(err instanceof Error, 'a broken watch ends with an error, not null');
      await assert.rejects(core.listServiceForAllNamespaces());

      await fake.restart();
      assert.equal(fake.port, port);
      const listed = await core.listServiceForAllNamespaces();
      assert.deepEqual(listed.items.map((s) => s.metadata?.name), ['s']);
      const resumed = await Watching.open(kc, '/api/v1/services', { resourceVersion: rv });
      await fake.waitForWatches('Service');
      fake.upsert(service('a', 't'));
      await resumed.waitFor((e) => e.length === 1);
      assert.deepEqual(names(resumed.events), ['ADDED t']);
      resumed.close();
    }));

  it('serves https with a CA the kubeconfig carries', () =>
    withFake({ tls: true }, async (fake) => {
      assert.match(fake.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.match(fake.caPem ?? '', /BEGIN CERTIFICATE/);
      const kc = kubeConfigFor(fake);
      assert.equal(Buffer.from(kc.getCurrentCluster()?.caData ?? '', 'base64').toString(), fake.caPem);
      fake.upsert({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's-1', namespace: 'a', labels: { 'kubernetes.io/service-name': 's' } }, addressType: 'IPv4', endpoints: [] });
      const slices = await kc.makeApiClient(k8s.DiscoveryV1Api).listEndpointSliceForAllNamespaces({ labelSelector: 'kubernetes.io/service-name=s' });
      assert.deepEqual(slices.items.map((s) => s.metadata?.name), ['s-1']);
      const watch = await Watching.open(kc, '/apis/discovery.k8s.io/v1/endpointslices', {});
      await watch.waitFor((e) => e.length === 1);
      assert.equal(watch.events[0]?.object.apiVersion, 'discovery.k8s.io/v1');
      watch.close();
    }));

  it('looks like a cluster without discovery.k8s.io/v1 when endpointSlices is false', () =>
    withFake({ endpointSlices: false }, async (fake) => {
      const kc = kubeConfigFor(fake);
      const groups = await kc.makeApiClient(k8s.ApisApi).getAPIVersions();
      assert.deepEqual(groups.groups, []);
      await assert.rejects(kc.makeApiClient(k8s.DiscoveryV1Api).listEndpointSliceForAllNamespaces(), (err: k8s.ApiException<unknown>) => err.code === 404);
      const watch = await Watching.open(kc, '/apis/discovery.k8s.io/v1/endpointslices', {});
      assert.equal(((await watch.endedWithin()) as { statusCode?: number }).statusCode, 404);
      const resources = await kc.makeApiClient(k8s.CoreV1Api).getAPIResources();
      assert.deepEqual(resources.resources.map((r) => r.name), ['namespaces', 'services', 'endpoints', 'pods', 'nodes']);
    }));
});
