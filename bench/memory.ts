/**
 * `npm run bench:memory`: the memory the deploy/ manifests must make room for. lbdns runs with
 * the base manifest's own settings (deploy/base/lbdns.yaml) against the test API server, once per
 * cluster size and serving-thread count, and this prints its RSS
 *   - once the view has synced, and 5 s later, once the garbage of taking it in is collected
 *     (util/heap-settle.ts: 2 s after the bulk change went quiet),
 *   - once every cache is full: each thread's answer cache (answerCacheSize) and both forwarding
 *     caches (cache.positiveSize, cache.negativeSize), which any pod can fill with distinct names,
 *     and churned with new names until RSS levels off (evicted entries are freed late),
 *   - after a forced relist of everything (the API server compacts, every watch gets 410 Gone),
 * and the peak (VmHWM) over the whole run. Requests come from the churned figure at 1,000
 * Services, limits from the peak: deploy/base/deployment.yaml explains the choice.
 *
 * lbdns runs as the image does (as-image.ts): its bundle, the node flags of its ENTRYPOINT, its ENV.
 *
 * Environment: MEMORY_SERVICES (100,1000,10000), MEMORY_WORKERS (1,2), MEMORY_ENDPOINTS (10 per Service),
 * LBDNS_NODE_FLAGS (instead of the image's node flags: space-separated, empty for none).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify } from 'yaml';
import { FakeApiServer, type KubeObject } from '../test/helpers/fake-apiserver.ts';
import { freePort } from '../test/helpers/lbdns-process.ts';
import { sendAll } from './send-all.ts';
import { lbdnsCli, lbdnsEnv, lbdnsNodeFlags } from './as-image.ts';
import { StubUpstream, reply } from '../test/helpers/stub-upstream.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Built before any clock starts: the build is not lbdns's startup. */
const cli = lbdnsCli();
const list = (text: string) => text.split(',').map(Number);
const sizes = list(process.env.MEMORY_SERVICES ?? '100,1000,10000');
const workerCounts = list(process.env.MEMORY_WORKERS ?? '1,2');
const endpointsPerService = Number(process.env.MEMORY_ENDPOINTS ?? 10);

const ip = (n: number) => `10.${64 + Math.floor(n / 65536)}.${Math.floor(n / 256) % 256}.${n % 256}`;
const namespaceOf = (i: number) => `ns${i % 50}`;

/** A cluster of `services` Services, one in ten headless, each with one EndpointSlice. */
function cluster(api: FakeApiServer, services: number): void {
  for (let n = 0; n < 50; n++) api.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${n}` } });
  for (let i = 0; i < services; i++) {
    const headless = i % 10 === 0;
    api.upsert({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc${i}`, namespace: namespaceOf(i), annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"v1","kind":"Service"}' } },
      spec: { clusterIP: headless ? 'None' : ip(3_000_000 + i), ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] },
    });
    const slice: KubeObject = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `svc${i}-abcde`, namespace: namespaceOf(i), labels: { 'kubernetes.io/service-name': `svc${i}` }, managedFields: [{ manager: 'kube-controller-manager', operation: 'Update' }] },
      addressType: 'IPv4',
      endpoints: Array.from({ length: endpointsPerService }, (_, k) => ({
        addresses: [ip(i * endpointsPerService + k)],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: `node-${k % 20}`,
        zone: `zone-${k % 3}`,
        targetRef: { kind: 'Pod', name: `svc${i}-pod-${k}`, namespace: namespaceOf(i), uid: '7d3c5b6a-0000-4000-8000-000000000000' },
      })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    };
    api.upsert(slice);
  }
}

const mib = (field: 'VmRSS' | 'VmHWM', pid: number) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function metric(opsPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

async function until(what: string, done: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await done().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Row {
  services: number;
  workers: number;
  readySeconds: number;
  synced: number;
  settled: number;
  cachesFull: number;
  /** Entries in the forwarding caches of every thread, to show they did fill. */
  forwardEntries: number;
  /** Rounds of new names it took RSS to level off. */
  rounds: number;
  afterRelist: number;
  peak: number;
}

async function measure(services: number, workers: number, upstream: StubUpstream): Promise<Row> {
  const api = await FakeApiServer.start({ bookmarkIntervalMs: 10_000 });
  cluster(api, services);
  const dir = mkdtempSync(join(tmpdir(), 'lbdns-memory-'));
  const kubeconfig = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  // The Deployment's own settings; only the upstream (here a stub) and the thread count differ.
  const settings = parseYaml(readFileSync(join(root, 'deploy/base/lbdns.yaml'), 'utf8')) as Record<string, unknown>;
  delete settings['workers'];
  settings['forward'] = { ...(settings['forward'] as object), upstreams: [`127.0.0.1:${upstream.port}`] };
  writeFileSync(join(dir, 'lbdns.yaml'), stringify(settings));
  const port = await freePort();
  const opsPort = await freePort();
  const started = performance.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [...lbdnsNodeFlags(), cli, '--config', join(dir, 'lbdns.yaml'), '--kubeconfig', kubeconfig, '--listen', `127.0.0.1:${port}`, '--ops-listen', `127.0.0.1:${opsPort}`, '--log-level', 'warn', '--workers', String(workers)],
    { stdio: ['ignore', 'ignore', 'inherit'], env: lbdnsEnv() },
  );
  const pid = child.pid!;
  try {
    await until('ready', async () => (await fetch(`http://127.0.0.1:${opsPort}/ready`)).ok, 300_000);
    const readySeconds = (performance.now() - started) / 1000;
    const synced = mib('VmRSS', pid);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const settled = mib('VmRSS', pid);

    // Fill every cache of every thread: answerCacheSize distinct answers (existing Services and
    // names that do not exist), and the two forwarding caches with distinct outside names. Round
    // after round of new names, as a pod could go on sending them: evicted entries are garbage
    // the collector frees late, so RSS climbs past the first fill until it levels off.
    const answerCacheSize = 50_000;
    const forwardCacheSize = 10_000;
    let rounds = 0;
    for (let previous = mib('VmRSS', pid); rounds < 8; ) {
      const names: Array<[string, string]> = [];
      for (let n = 0; n < answerCacheSize * workers; n++) {
        const i = n % services;
        names.push(rounds === 0 && n < services * 2 ? [`svc${i}.${namespaceOf(i)}.svc.cluster.local`, n < services ? 'A' : 'SRV'] : [`gone${rounds}-${n}.${namespaceOf(i)}.svc.cluster.local`, 'A']);
      }
      for (let n = 0; n < forwardCacheSize * 2 * workers; n++) names.push([`host${rounds}-${n}.${n % 2 ? 'missing' : 'present'}.example`, 'A']);
      await sendAll(port, names);
      rounds++;
      const now = mib('VmRSS', pid);
      if (rounds >= 3 && now < previous * 1.03) break;
      previous = now;
    }
    const cachesFull = mib('VmRSS', pid);
    const forwardEntries = await metric(opsPort, 'lbdns_cache_entries');

    const relists = await metric(opsPort, 'lbdns_kubernetes_relists_total');
    api.compact();
    await until('relist', async () => (await metric(opsPort, 'lbdns_kubernetes_relists_total')) >= relists + 3 && (await fetch(`http://127.0.0.1:${opsPort}/ready`)).ok, 300_000);
    // The old view becomes garbage only once the new one is in place: give the collector a moment.
    await new Promise((r) => setTimeout(r, 3000));
    const afterRelist = mib('VmRSS', pid);
    return { services, workers, readySeconds, synced, settled, cachesFull, forwardEntries, rounds, afterRelist, peak: mib('VmHWM', pid) };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    await api.stop();
  }
}

// An upstream that answers half the names (one A record, TTL 3600) and NXDOMAINs the rest, with
// the SOA that lets a negative answer be cached (RFC 2308).
const soa = { type: 'SOA', name: 'example', ttl: 3600, data: { mname: 'ns.example', rname: 'hostmaster.example', serial: 1, refresh: 7200, retry: 1800, expire: 86400, minimum: 3600 } };
const upstream = await StubUpstream.start((query) => {
  const name = query.questions?.[0]?.name ?? '';
  const answer = name.endsWith('.missing.example') ? reply(query, { rcode: 'NXDOMAIN', authorities: [soa] as never }) : reply(query, { answers: [{ type: 'A', name, ttl: 3600, data: '192.0.2.1' }] });
  return [{ bytes: answer }];
});
const rows: Row[] = [];
try {
  for (const services of sizes) {
    for (const workers of workerCounts) {
      const row = await measure(services, workers, upstream);
      rows.push(row);
      console.error(`measured ${services} Services with ${workers} serving thread(s)`);
    }
  }
} finally {
  await upstream.close();
}
console.log(`\nlbdns with deploy/base/lbdns.yaml, ${endpointsPerService} endpoints per Service (one in ten headless), via the test API server; RSS in MiB\n`);
console.log('| Services / endpoints | serving threads | ready after (s) | synced | 5 s later | every cache full, churned (forwarding cache entries, rounds) | after a relist of everything | peak (VmHWM) |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(`| ${r.services.toLocaleString('en')} / ${(r.services * endpointsPerService).toLocaleString('en')} | ${r.workers} | ${r.readySeconds.toFixed(1)} | ${r.synced.toFixed(0)} | ${r.settled.toFixed(0)} | ${r.cachesFull.toFixed(0)} (${r.forwardEntries.toLocaleString('en')}, ${r.rounds}) | ${r.afterRelist.toFixed(0)} | ${r.peak.toFixed(0)} |`);
}
