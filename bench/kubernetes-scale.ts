/**
 * `npm run bench:kubernetes`: 10,000 Services and 10,000 EndpointSlices (100,000 endpoints)
 * served by the test API server; lbdns watches it. Prints the time to ready (and lbdns's CPU until then), RSS after the
 * sync and once settled, and the p50/p99 time from an EndpointSlice update to the changed DNS answer while
 * updates arrive at 100/s, and meanwhile how long PTR queries for endpoint addresses take (reverse
 * names depend on every Service, so each update makes the next one look at the changed index).
 *
 * Environment: SCALE_SERVICES (10000), SCALE_ENDPOINTS (10 per slice), SCALE_UPDATE_SECONDS (20),
 * LBDNS_NODE_FLAGS (instead of the image's node flags, as-image.ts: space-separated, empty for none),
 * SCALE_TLS=1 (the API server over HTTPS, as a real one always is: a connection per page would show).
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer, type KubeObject } from '../test/helpers/fake-apiserver.ts';
import { freePort } from '../test/helpers/lbdns-process.ts';
import { buildQuery, decode, udpExchange } from '../test/helpers/dns-client.ts';
import { reverseNameOf } from '../src/resolve/reverse-name.ts';
import { lbdnsCli, lbdnsEnv, lbdnsNodeFlags } from './as-image.ts';

/** Serving threads (LBDNS_WORKERS); default one per core, as lbdns itself would choose. */
const workers = Number(process.env.LBDNS_WORKERS ?? availableParallelism());
const services = Number(process.env.SCALE_SERVICES ?? 10_000);
const endpointsPerSlice = Number(process.env.SCALE_ENDPOINTS ?? 10);
const updateSeconds = Number(process.env.SCALE_UPDATE_SECONDS ?? 20);
const updatesPerSecond = 100;
const tls = process.env.SCALE_TLS === '1';
const nodeFlags = lbdnsNodeFlags();
/** Built before any clock starts: the build is not lbdns's startup. */
const cli = lbdnsCli();

const ip = (n: number) => `10.${64 + Math.floor(n / 65536)}.${Math.floor(n / 256) % 256}.${n % 256}`;
const namespaceOf = (i: number) => `ns${i % 50}`;
const sliceObject = (i: number, generation: number): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `svc${i}-abcde`, namespace: namespaceOf(i), labels: { 'kubernetes.io/service-name': `svc${i}` }, managedFields: [{ manager: 'kube-controller-manager', operation: 'Update' }] },
  addressType: 'IPv4',
  endpoints: Array.from({ length: endpointsPerSlice }, (_, k) => ({
    addresses: [k === 0 && generation > 0 ? ip(5_000_000 + generation) : ip(i * endpointsPerSlice + k)],
    conditions: { ready: true, serving: true, terminating: false },
    nodeName: `node-${k % 20}`,
    zone: `zone-${k % 3}`,
    targetRef: { kind: 'Pod', name: `svc${i}-pod-${k}`, namespace: namespaceOf(i), uid: '7d3c5b6a-0000-4000-8000-000000000000' },
  })),
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
});

const api = await FakeApiServer.start({ bookmarkIntervalMs: 10_000, tls });
for (let n = 0; n < 50; n++) api.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${n}` } });
for (let i = 0; i < services; i++) {
  api.upsert({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc${i}`, namespace: namespaceOf(i), annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"v1","kind":"Service"}' } }, spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] } });
  api.upsert(sliceObject(i, 0));
}

const dir = mkdtempSync(join(tmpdir(), 'lbdns-scale-'));
const kubeconfig = join(dir, 'kubeconfig');
api.writeKubeconfig(kubeconfig);
writeFileSync(join(dir, 'lbdns.yaml'), 'answerCacheSize: 100000\n');
const dnsPort = await freePort();
const opsPort = await freePort();
const started = performance.now();
const child = spawn(process.execPath, [...nodeFlags, cli, '--config', join(dir, 'lbdns.yaml'), '--kubeconfig', kubeconfig, '--listen', `127.0.0.1:${dnsPort}`, '--ops-listen', `127.0.0.1:${opsPort}`, '--log-level', 'warn', '--workers', String(workers)], { stdio: ['ignore', 'ignore', 'inherit'], env: lbdnsEnv() });

try {
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${opsPort}/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (performance.now() - started > 300_000) throw new Error('not ready within 5 minutes');
    await new Promise((r) => setTimeout(r, 50));
  }
  const readyMs = performance.now() - started;
  /** CPU seconds of lbdns (`task`: one of its threads), utime and stime in the kernel's USER_HZ of 100 per second. */
  const cpuSeconds = (task?: number) => {
    const fields = readFileSync(`/proc/${child.pid}/${task === undefined ? '' : `task/${task}/`}stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  // Less sensitive than the time to ready to what else the machine runs: the main thread lists and slims.
  const cpuUntilReady = { all: cpuSeconds(), main: cpuSeconds(child.pid) };
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const rssAfterSync = rss();
  // Settled: the view's bulk-change collection and release (util/heap-settle.ts) run once the
  // list has been quiet for 2 s, and V8 unmaps the pages it freed some seconds after that
  // (about 8 s after ready at this size): read 15 s after ready.
  await new Promise((r) => setTimeout(r, 15_000));
  const rssSettled = rss();

  const answerHas = async (name: string, address: string): Promise<boolean> => {
    const reply = await udpExchange(dnsPort, buildQuery(name, 'A'), 1000);
    return reply !== null && (decode(reply).answers ?? []).some((a) => a.data === address);
  };
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const total = updateSeconds * updatesPerSecond;
  // One PTR query every 10 ms for an endpoint address no update moves (endpoint 1 of a slice).
  const ptrTimes: number[] = [];
  let ptrUnanswered = 0;
  let churning = true;
  const ptrProbe = (async () => {
    for (let n = 0; churning; n++) {
      const i = (n * 104_729) % services;
      const at = performance.now();
      const reply = await udpExchange(dnsPort, buildQuery(reverseNameOf(ip(i * endpointsPerSlice + 1)), 'PTR'), 1000);
      if (reply !== null && (decode(reply).answers ?? []).length > 0) ptrTimes.push(performance.now() - at);
      else ptrUnanswered++;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const cpuBefore = cpuSeconds();
  const churnStarted = performance.now();
  for (let generation = 1; generation <= total; generation++) {
    const i = (generation * 7919) % services;
    const name = `svc${i}.${namespaceOf(i)}.svc.cluster.local`;
    const marker = ip(5_000_000 + generation);
    const at = performance.now();
    api.upsert(sliceObject(i, generation));
    // Every 5th update is timed from the API event to the answer, polling every millisecond.
    if (generation % 5 === 0) {
      pending.push(
        (async () => {
          while (!(await answerHas(name, marker))) {
            if (performance.now() - at > 10_000) return;
            await new Promise((r) => setTimeout(r, 1));
          }
          latencies.push(performance.now() - at);
        })(),
      );
    }
    const next = started + readyMs + (generation * 1000) / updatesPerSecond;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
  await Promise.all(pending);
  const churnCores = (cpuSeconds() - cpuBefore) / ((performance.now() - churnStarted) / 1000);
  churning = false;
  await ptrProbe;
  latencies.sort((a, b) => a - b);
  ptrTimes.sort((a, b) => a - b);
  const percentile = (list: number[], p: number) => list[Math.min(list.length - 1, Math.floor((p / 100) * list.length))] ?? NaN;
  const pct = (p: number) => percentile(latencies, p);
  console.log(`\n${services} Services, ${services} EndpointSlices, ${services * endpointsPerSlice} endpoints via the test API server${tls ? ' over HTTPS' : ''}; ${workers} serving thread(s)${nodeFlags.length ? `; node ${nodeFlags.join(' ')}` : ''}\n`);
  console.log('| measure | value |');
  console.log('| --- | ---: |');
  console.log(`| time to ready (list of everything) | ${(readyMs / 1000).toFixed(2)} s |`);
  console.log(`| lbdns CPU until ready: all threads / main thread | ${cpuUntilReady.all.toFixed(2)} / ${cpuUntilReady.main.toFixed(2)} s |`);
  console.log(`| RSS after sync | ${rssAfterSync.toFixed(0)} MiB |`);
  console.log(`| RSS 15 s after sync (settled) | ${rssSettled.toFixed(0)} MiB |`);
  console.log(`| RSS after ${total} updates | ${rss().toFixed(0)} MiB |`);
  console.log(`| update → answer p50 (${latencies.length} timed of ${total} at ${updatesPerSecond}/s) | ${pct(50).toFixed(1)} ms |`);
  console.log(`| update → answer p99 | ${pct(99).toFixed(1)} ms |`);
  console.log(`| updates never seen within 10 s | ${total / 5 - latencies.length} |`);
  console.log(`| PTR during the updates p50 / p99 (${ptrTimes.length} answered, ${ptrUnanswered} not) | ${percentile(ptrTimes, 50).toFixed(1)} / ${percentile(ptrTimes, 99).toFixed(1)} ms |`);
  console.log(`| lbdns CPU during the updates | ${churnCores.toFixed(2)} cores |`);
} finally {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  await api.stop();
}
