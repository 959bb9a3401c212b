/**
 * `npm run soak`: a bounded soak. dnsperf sends a steady query rate for SOAK_SECONDS (default
 * 180) while EndpointSlices churn through the test API server (SOAK_UPDATES per second, default
 * 50) and the settings file is rewritten every 10 s. Reports queries lost, responses by rcode,
 * and lbdns's RSS at start and end.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeApiServer, type KubeObject } from '../test/helpers/fake-apiserver.ts';
import { freePort } from '../test/helpers/lbdns-process.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Serving threads (LBDNS_WORKERS); default one per core, as lbdns itself would choose. */
const workers = Number(process.env.LBDNS_WORKERS ?? availableParallelism());
const seconds = Number(process.env.SOAK_SECONDS ?? 180);
const updatesPerSecond = Number(process.env.SOAK_UPDATES ?? 50);
const qps = Number(process.env.SOAK_QPS ?? 20_000);
const services = 1000;

const slice = (i: number, generation: number): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `svc${i}-x`, namespace: `ns${i % 10}`, labels: { 'kubernetes.io/service-name': `svc${i}` } },
  addressType: 'IPv4',
  endpoints: Array.from({ length: 3 }, (_, k) => ({ addresses: [`10.${100 + (generation % 100)}.${Math.floor(i / 250)}.${(i % 250) + 1 + k}`], conditions: { ready: true } })),
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
});

const api = await FakeApiServer.start({ bookmarkIntervalMs: 5000 });
for (let n = 0; n < 10; n++) api.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${n}` } });
for (let i = 0; i < services; i++) {
  api.upsert({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc${i}`, namespace: `ns${i % 10}` }, spec: { clusterIP: i % 10 === 0 ? 'None' : `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
  api.upsert(slice(i, 0));
}
const dir = mkdtempSync(join(tmpdir(), 'lbdns-soak-'));
const kubeconfig = join(dir, 'kubeconfig');
api.writeKubeconfig(kubeconfig);
const settingsPath = join(dir, 'lbdns.yaml');
writeFileSync(settingsPath, 'ttl: 5\n');
const queries = Array.from({ length: 5000 }, (_, q) => {
  const i = (q * 7919) % services;
  const name = `svc${i}.ns${i % 10}.svc.cluster.local`;
  return q % 10 === 9 ? `nope${q}.ns${i % 10}.svc.cluster.local A` : q % 5 === 0 ? `_http._tcp.${name} SRV` : `${name} A`;
});
writeFileSync(join(dir, 'queries.txt'), queries.join('\n') + '\n');

const port = await freePort();
const opsPort = await freePort();
const child = spawn(process.execPath, [join(root, 'bin/lbdns.js'), '--config', settingsPath, '--kubeconfig', kubeconfig, '--listen', `127.0.0.1:${port}`, '--ops-listen', `127.0.0.1:${opsPort}`, '--upstream', '127.0.0.1:9', '--log-level', 'warn', '--workers', String(workers)], { stdio: ['ignore', 'ignore', 'inherit'] });
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
/**
 * V8's live heap of the main thread and of each serving thread (the same one when workers is 1),
 * from lbdns's own metrics: RSS alone cannot tell a leak from a lazily shrunk heap.
 */
const heapUsed = async (): Promise<string> => {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  const mib = (bytes: string | undefined) => (Number(bytes) / 1048576).toFixed(0);
  const main = mib(/^lbdns_nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1]);
  const serving = [...text.matchAll(/^lbdns_serving_heap_used_bytes\{[^}]*\} (\S+)$/gm)].map((m) => mib(m[1]));
  return workers === 1 ? main : `main ${main}, workers ${serving.join(' + ')}`;
};
try {
  for (let i = 0; !(await fetch(`http://127.0.0.1:${opsPort}/ready`).then((r) => r.ok, () => false)); i++) {
    if (i > 600) throw new Error('lbdns never became ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  const rssStart = rss();
  const heapStart = await heapUsed();
  let generation = 0;
  const churn = setInterval(() => {
    for (let k = 0; k < updatesPerSecond / 10; k++) api.upsert(slice((generation * 37) % services, ++generation));
  }, 100);
  let reloads = 0;
  const reload = setInterval(() => writeFileSync(settingsPath, `ttl: ${5 + (++reloads % 2)}\n`), 10_000);
  const output = await new Promise<string>((resolve, reject) => {
    const perf = spawn('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', join(dir, 'queries.txt'), '-l', String(seconds), '-Q', String(qps), '-c', '4', '-t', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    perf.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    perf.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`dnsperf exited ${code}`))));
  });
  clearInterval(churn);
  clearInterval(reload);
  const rssEnd = rss();
  const heapEnd = await heapUsed();
  const number = (pattern: RegExp) => pattern.exec(output)?.[1] ?? '?';
  console.log(`\nsoak: ${workers} serving thread(s), ${seconds} s at ${qps} queries/s, ${updatesPerSecond} EndpointSlice updates/s (${generation} in all), ${reloads} settings reloads\n`);
  console.log('| measure | value |');
  console.log('| --- | ---: |');
  console.log(`| queries sent | ${number(/Queries sent:\s+(\d+)/)} |`);
  console.log(`| queries lost | ${number(/Queries lost:\s+(\d+ \([\d.]+%\))/)} |`);
  console.log(`| response codes | ${number(/Response codes:\s+(.+)/)} |`);
  console.log(`| average latency | ${(Number(number(/Average Latency \(s\):\s+([\d.]+)/)) * 1000).toFixed(3)} ms |`);
  console.log(`| RSS at start / end | ${rssStart.toFixed(0)} / ${rssEnd.toFixed(0)} MiB |`);
  console.log(`| V8 heap used at start / end (MiB) | ${heapStart} / ${heapEnd} |`);
} finally {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await exited;
  await api.stop();
}
