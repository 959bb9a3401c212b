/**
 * Several serving workers on one port (SO_REUSEPORT): every worker answers from a replica of the
 * one view, follows its changes and the settings, and their numbers add up in /metrics. Each
 * query goes out from a fresh socket (a new source port), so the kernel spreads them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { type LogLine, type RunningServer, freePort, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { answerData, query, queryTcp, rcodeOf } from '../helpers/dns-client.ts';
import { FakeApiServer, type KubeObject } from '../helpers/fake-apiserver.ts';
import { asList, clusterIpService, headlessService } from '../helpers/objects.ts';
import { within } from '../helpers/wait.ts';

// A test that throws before its own stop() must not leave an API server that keeps this file running.
after(() => FakeApiServer.stopAll());

const QUERIES = 60;

function objects(addresses: string[]): string {
  return asList([...headlessService('team', 'app', addresses), clusterIpService('team', 'front', '10.96.7.7')]);
}

function settings(ttl: number): string {
  return `queryLogSampleRate: 1\nttl: ${ttl}\n`;
}

async function metricValue(server: RunningServer, line: string): Promise<number | null> {
  const text = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? null : Number(found.slice(line.length + 1));
}

/** The sorted A records of `count` queries, each from its own socket. */
async function answersOf(port: number, name: string, count: number): Promise<Array<{ rcode: string; addresses: string; ttl: number | undefined }>> {
  const results = [];
  for (let i = 0; i < count; i++) {
    const response = await query(port, name, 'A');
    results.push({ rcode: rcodeOf(response), addresses: (answerData(response, 'A') as string[]).sort().join(','), ttl: response.answers?.[0]?.ttl });
  }
  return results;
}

const queryLines = (server: RunningServer): LogLine[] => server.logs.filter((l) => l.msg === 'query');

describe('two serving workers on one port', () => {
  let server: RunningServer;
  let objectsPath: string;
  let configPath: string;

  before(async () => {
    objectsPath = tempFile('objects.yaml', objects(['10.20.0.1', '10.20.0.2', '10.20.0.3']));
    configPath = tempFile('lbdns.yaml', settings(5));
    server = await startLbdns({ objects: objectsPath, config: configPath, workers: 2 });
  });
  after(async () => {
    await server.stop();
  });

  it('answers every query from both workers, from the same view', async () => {
    const results = await answersOf(server.port, 'app.team.svc.cluster.local', QUERIES);
    assert.deepEqual(new Set(results.map((r) => `${r.rcode} ${r.addresses}`)), new Set(['NOERROR 10.20.0.1,10.20.0.2,10.20.0.3']));
    await within(3000, async () => queryLines(server).length >= QUERIES);
    const byWorker = new Map<unknown, number>();
    for (const line of queryLines(server)) byWorker.set(line.worker, (byWorker.get(line.worker) ?? 0) + 1);
    assert.deepEqual([...byWorker.keys()].sort(), [0, 1], `queries per worker: ${JSON.stringify([...byWorker])}`);
  });

  it('answers TCP connections on the shared port too', async () => {
    for (let i = 0; i < 10; i++) assert.deepEqual(answerData(await queryTcp(server.port, 'front.team.svc.cluster.local', 'A'), 'A'), ['10.96.7.7']);
  });

  it("adds up every worker's numbers in /metrics", async () => {
    const requests = await metricValue(server, 'lbdns_dns_requests_total{zone="cluster.local",proto="udp",type="A"}');
    assert.equal(requests, QUERIES);
    assert.equal(await metricValue(server, 'lbdns_dns_responses_total{zone="cluster.local",rcode="NOERROR"}'), QUERIES + 10);
    for (const worker of ['0', '1']) assert.ok((await metricValue(server, `lbdns_serving_heap_used_bytes{worker="${worker}"}`))! > 1e6);
  });

  it("adds up every worker's numbers in CoreDNS's families too", async () => {
    const at = `server="dns://:${server.port}",zone="cluster.local.",view=""`;
    assert.equal(await metricValue(server, `coredns_dns_requests_total{${at},proto="udp",family="1",type="A"}`), QUERIES);
    assert.equal(await metricValue(server, `coredns_dns_requests_total{${at},proto="tcp",family="1",type="A"}`), 10);
    assert.equal(await metricValue(server, `coredns_dns_responses_total{${at},rcode="NOERROR",plugin="kubernetes"}`), QUERIES + 10);
    assert.equal(await metricValue(server, `coredns_dns_request_duration_seconds_count{${at},type="A"}`), QUERIES + 10);
    assert.equal(await metricValue(server, `coredns_dns_request_size_bytes_count{${at},proto="udp"}`), QUERIES);
    assert.equal(await metricValue(server, `coredns_dns_response_size_bytes_bucket{${at},proto="tcp",le="+Inf"}`), 10);
  });

  it('logs every query while a query log is asked for: the addon answers none of them itself', async () => {
    const name = 'front.team.svc.cluster.local';
    const before = queryLines(server).filter((l) => l.name === name).length;
    for (let i = 0; i < 20; i++) assert.deepEqual(answerData(await query(server.port, name, 'A'), 'A'), ['10.96.7.7']);
    await within(3000, async () => queryLines(server).filter((l) => l.name === name).length >= before + 20);
    assert.equal(queryLines(server).filter((l) => l.name === name).length, before + 20);
    assert.equal(await metricValue(server, 'lbdns_native_answers_total'), 0);
  });

  it('ships an objects-file change to every worker', async () => {
    writeFileSync(objectsPath, objects(['10.20.0.1', '10.20.0.2', '10.20.0.3', '10.20.0.4']));
    // Each thread takes the change on its own: the worker drops its route when the main thread's
    // message reaches it, a moment after the main thread answers from the new view (pool.ts). So
    // wait until 20 answers in a row are new, whichever thread each query reaches.
    await within(3000, async () => (await answersOf(server.port, 'app.team.svc.cluster.local', 20)).every((r) => r.addresses.includes('10.20.0.4')));
    const results = await answersOf(server.port, 'app.team.svc.cluster.local', 40);
    assert.deepEqual(new Set(results.map((r) => r.addresses)), new Set(['10.20.0.1,10.20.0.2,10.20.0.3,10.20.0.4']));
  });

  it('gives reloaded settings to every worker', async () => {
    writeFileSync(configPath, settings(17));
    await within(3000, async () => (await answersOf(server.port, 'app.team.svc.cluster.local', 1))[0]!.ttl === 17);
    const results = await answersOf(server.port, 'app.team.svc.cluster.local', 40);
    assert.deepEqual(new Set(results.map((r) => r.ttl)), new Set([17]));
  });

  it('stops every worker and exits cleanly', async () => {
    assert.equal(await server.stop('SIGINT'), 0);
  });
});

function slice(addresses: string[]): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'db-a', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'db' } },
    addressType: 'IPv4',
    endpoints: addresses.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
  };
}

describe('workers fed by the Kubernetes watch', () => {
  let api: FakeApiServer;
  let server: RunningServer;

  before(async () => {
    api = await FakeApiServer.start({ bookmarkIntervalMs: 500 });
    api.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    api.upsert({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: 'shop' }, spec: { clusterIP: 'None', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] } });
    api.upsert(slice(['10.244.1.1']));
    const kubeconfig = tempFile('kubeconfig', '');
    api.writeKubeconfig(kubeconfig);
    server = await startLbdns({ objects: null, config: tempFile('lbdns.yaml', 'kubernetes:\n  retryMaxSeconds: 2\n'), args: ['--kubeconfig', kubeconfig], workers: 2 });
    await server.waitForLog((l) => l.msg === 'first sync complete');
  });
  after(async () => {
    await server.stop();
    await api.stop();
  });

  it('holds one watch per kind and every worker serves its events', async () => {
    await within(3000, async () => (await answersOf(server.port, 'db.shop.svc.cluster.local', 1))[0]!.rcode === 'NOERROR');
    assert.deepEqual(new Set((await answersOf(server.port, 'db.shop.svc.cluster.local', 20)).map((r) => r.addresses)), new Set(['10.244.1.1']));
    api.upsert(slice(['10.244.1.1', '10.244.1.2']));
    await within(3000, async () => (await answersOf(server.port, 'db.shop.svc.cluster.local', 1))[0]!.addresses === '10.244.1.1,10.244.1.2');
    assert.deepEqual(new Set((await answersOf(server.port, 'db.shop.svc.cluster.local', 40)).map((r) => r.addresses)), new Set(['10.244.1.1,10.244.1.2']));
    const sliceWatches = api.requests.filter((r) => r.watch && r.path === '/apis/discovery.k8s.io/v1/endpointslices');
    assert.equal(sliceWatches.length, 1, 'the primary alone watches; workers get its events');
  });

  it('gives every worker the same SOA serial', async () => {
    const serials = new Set<unknown>();
    for (let i = 0; i < 30; i++) serials.add(((await query(server.port, 'cluster.local', 'SOA')).answers?.[0]?.data as { serial: number }).serial);
    assert.equal(serials.size, 1, `serials: ${[...serials].join(', ')}`);
  });
});

describe('a port another process holds', () => {
  // SO_REUSEPORT lets any socket of the same user that asks for it share the port, and take a
  // share of the queries: lbdns must refuse to start instead.
  const holders = {
    udp: async (port: number) => {
      const socket = createSocket({ type: 'udp4', reusePort: true });
      await new Promise<void>((resolve) => socket.bind(port, '127.0.0.1', () => resolve()));
      return () => new Promise<void>((resolve) => socket.close(() => resolve()));
    },
    tcp: async (port: number) => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen({ port, host: '127.0.0.1', reusePort: true }, () => resolve()));
      return () => new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  for (const [proto, hold] of Object.entries(holders)) {
    it(`exits 1, naming the address, when a ${proto} socket with SO_REUSEPORT already holds it`, async () => {
      const port = await freePort();
      const release = await hold(port);
      try {
        const server = await startLbdns({ workers: 2, args: ['--listen', `127.0.0.1:${port}`], waitUntilServing: false });
        // Either it serves (wrong), or it exits, which makes waitForLog reject.
        const served = await server.waitForLog((l) => l.msg === 'serving DNS over UDP and TCP', 20_000).then(() => true, () => false);
        const code = await server.stop();
        assert.ok(!served, 'never served');
        assert.equal(code, 1, server.stderr());
        const fatal = server.logs.find((l) => l.level === 60);
        assert.ok(fatal && String(fatal.err).includes(`127.0.0.1:${port} (${proto})`), server.stderr());
      } finally {
        await release();
      }
    });
  }
});
