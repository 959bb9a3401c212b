/**
 * `npm run bench:startup`: how fast lbdns is ready on a large objects file, and what the view and
 * the process hold once it is. The cluster is bench:scale's large one (10,000 Services, 100,000
 * endpoints, a 13 MB `kubectl get -o json` file). Prints
 *   - in this process: the time to parse the file, to load it into a view, and the heap the view
 *     keeps (records and indexes, after a full collection);
 *   - per serving-thread count: lbdns's time from spawn to /ready, its RSS then, once the parser
 *     thread that fingerprints the loaded file has ended, and after every name of the cluster's
 *     query list was asked once.
 * The Kubernetes API path has its own: `npm run bench:kubernetes`.
 *
 * lbdns runs as the image does (as-image.ts): its bundle, the node flags of its ENTRYPOINT, its ENV.
 *
 * Environment: STARTUP_WORKERS (1,2), LBDNS_NODE_FLAGS (instead of the image's node flags,
 * space-separated; empty for none).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { LARGE_CLUSTER, generateCluster } from './cluster.ts';
import { sendAll } from './send-all.ts';
import { lbdnsCli, lbdnsEnv, lbdnsNodeFlags } from './as-image.ts';
import { freePort, tempFile } from '../test/helpers/lbdns-process.ts';
import { parseObjectsText } from '../src/sources/objects-file.ts';
import { ClusterView } from '../src/view/cluster-view.ts';

const workerCounts = (process.env.STARTUP_WORKERS ?? '1,2').split(',').map(Number);
const nodeFlags = lbdnsNodeFlags();
/** Built before any clock starts: the build is not lbdns's startup. */
const cli = lbdnsCli();
/** How long after the parser thread ended RSS is read again. */
const SETTLE_MS = 15_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const mib = (bytes: number) => (bytes / 1048576).toFixed(1);

const cluster = generateCluster(LARGE_CLUSTER);
const path = tempFile('objects.json', cluster.objectsJson);
const endpoints = 100_000;

/** Parse and load in this process: the work lbdns does before it is ready, and the heap it keeps. */
function viewHeap(): { parseMs: number; loadMs: number; records: number; view: number } {
  gc();
  const before = process.memoryUsage().heapUsed;
  let started = performance.now();
  let parsed: ReturnType<typeof parseObjectsText> | null = parseObjectsText(readFileSync(path, 'utf8'), path);
  const parseMs = performance.now() - started;
  gc();
  const records = process.memoryUsage().heapUsed - before;
  started = performance.now();
  const view = new ClusterView();
  view.replaceAll(parsed.objects);
  const loadMs = performance.now() - started;
  parsed = null;
  gc();
  const held = process.memoryUsage().heapUsed - before;
  if (view.counts().services === 0) throw new Error('nothing loaded');
  return { parseMs, loadMs, records, view: held };
}

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const threadsOf = (pid: number) => Number(/Threads:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

interface Row {
  workers: number;
  readyS: number;
  rssReady: number;
  rssSettled: number;
  rssQueried: number;
}

async function start(workers: number): Promise<Row> {
  const port = await freePort();
  const opsPort = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [...nodeFlags, cli, '--objects', path, '--listen', `127.0.0.1:${port}`, '--ops-listen', `127.0.0.1:${opsPort}`, '--log-level', 'warn', '--workers', String(workers)], { stdio: ['ignore', 'ignore', 'inherit'], env: lbdnsEnv() });
  const pid = child.pid!;
  try {
    for (;;) {
      if (await fetch(`http://127.0.0.1:${opsPort}/ready`).then((r) => r.ok, () => false)) break;
      if (performance.now() - started > 120_000) throw new Error('not ready within 2 minutes');
      await new Promise((r) => setTimeout(r, 20));
    }
    const readyS = (performance.now() - started) / 1000;
    const rssReady = rssOf(pid);
    // The parser thread fingerprints the loaded file, then ends: its thread goes at once, the
    // memory it had some seconds later (10 s on the machine this was written on).
    const threadsAtReady = threadsOf(pid);
    for (let waited = 0; waited < 30_000 && threadsOf(pid) >= threadsAtReady; waited += 250) await new Promise((r) => setTimeout(r, 250));
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const rssSettled = rssOf(pid);
    await sendAll(port, cluster.queries.map((line) => line.split(' ') as [string, string]));
    const rssQueried = rssOf(pid);
    return { workers, readyS, rssReady, rssSettled, rssQueried };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

const heap = viewHeap();
const rows: Row[] = [];
for (const workers of workerCounts) rows.push(await start(workers));

console.log(`\nThe objects file: ${LARGE_CLUSTER.services!.toLocaleString('en')} Services, ${endpoints.toLocaleString('en')} endpoints, ${mib(cluster.objectsJson.length)} MB of JSON${nodeFlags.length ? `; lbdns run with ${nodeFlags.join(' ')}` : ''}\n`);
console.log('| in this process | value |');
console.log('| --- | ---: |');
console.log(`| parse and slim | ${heap.parseMs.toFixed(0)} ms |`);
console.log(`| load into a view (indexes) | ${heap.loadMs.toFixed(0)} ms |`);
console.log(`| heap: records | ${mib(heap.records)} MiB (${(heap.records / endpoints).toFixed(0)} bytes an endpoint) |`);
console.log(`| heap: the view (records and indexes) | ${mib(heap.view)} MiB (${(heap.view / endpoints).toFixed(0)} bytes an endpoint) |`);
console.log(`\n| serving threads | ready after | RSS at ready | ${SETTLE_MS / 1000} s after the parser thread ended | after every query once |`);
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.workers} | ${r.readyS.toFixed(2)} s | ${r.rssReady.toFixed(0)} MiB | ${r.rssSettled.toFixed(0)} MiB | ${r.rssQueried.toFixed(0)} MiB |`);
