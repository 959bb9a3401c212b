/**
 * `npm run bench`: lbdns, knot and BIND 9 (Debian's authoritative servers, the peers) serve the same
 * generated cluster; dnsperf drives each over loopback with the same query file, pinned to a
 * different core than the server. Runs are interleaved and the median of each is reported. The
 * lbdns row serves UDP as its settings default does (batched through the native addon when it is
 * built: see its startup line); the `io: dgram` row through node:dgram.
 *
 * `npm run bench -- --scale` instead compares lbdns on this cluster with lbdns on 10,000 Services
 * and 100,000 endpoints (each with its own query file of the same mix), with RSS, with 1 serving
 * thread and with 2 workers, and knot on the same two clusters: what the larger cluster costs a
 * server on this machine at all. Every mode also prints each server's start: how long until it
 * answers, and its RSS then.
 * `npm run bench -- --workers` (bench:workers) instead compares lbdns with 1 serving thread on
 * the server core and with one worker per core on every core (dnsperf's core included).
 * `npm run bench -- --policies` instead runs lbdns in endpoint mode once per balancing policy
 * (shuffle, weighted, zone, ClientIP affinity, spec.trafficDistribution PreferClose limiting and
 * ordering, PreferSameNode) and reports each against shuffle; its slow start row is shuffle while
 * one endpoint of every Service ramps (made ready by an objects file edit after startup; a 600 s
 * window, so answers are prepared again every 30 s during the runs).
 *
 * lbdns runs as the image does (as-image.ts): its bundle, the node flags of its ENTRYPOINT, its
 * ENV, so that its RSS and speed are the image's (without --max-semi-space-size V8 lets a busy
 * serving thread's new space grow to 128 MiB).
 *
 * Environment: BENCH_SECONDS (per run, default 8), BENCH_RUNS (default 3), LBDNS_NODE_FLAGS
 * (instead of the image's node flags: space-separated, empty for none), LBDNS_FROM=src (the
 * TypeScript source instead of the bundle).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LARGE_CLUSTER, generateCluster } from './cluster.ts';
import { knotConfig } from '../test/helpers/knot.ts';
import { bindConfig } from './bind.ts';
import { buildQuery, decode } from '../test/helpers/dns-client.ts';
import { createSocket } from 'node:dgram';
import { lbdnsCli, lbdnsEnv, lbdnsNodeFlags } from './as-image.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Built before any clock starts: the build is not lbdns's startup. */
const cli = lbdnsCli();
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const cores = availableParallelism();
const serverCore = cores > 1 ? '1' : '0';
const loadCore = '0';
const allCores = `0-${cores - 1}`;

function require(command: string, hint: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
  } catch {
    console.error(`bench: ${command} is missing (${hint})`);
    process.exit(2);
  }
}
require('dnsperf', 'apt-get install dnsperf');
require('knotd', 'apt-get install knot');
require('named', 'apt-get install bind9');
require('taskset', 'apt-get install util-linux');

const policiesMode = process.argv.includes('--policies');
const scaleMode = process.argv.includes('--scale');
const workersMode = process.argv.includes('--workers');
const dir = mkdtempSync(join(tmpdir(), 'lbdns-bench-'));
const cluster = generateCluster();
writeFileSync(join(dir, 'objects.json'), cluster.objectsJson);
writeFileSync(join(dir, 'objects-affinity.json'), generateCluster({ affinity: true }).objectsJson);
if (policiesMode) {
  // Slow start: the last endpoint of every Service starts not ready; made ready once lbdns serves.
  const cold = JSON.parse(cluster.objectsJson) as { items: Array<{ kind: string; endpoints?: Array<{ conditions: { ready: boolean } }> }> };
  for (const item of cold.items) if (item.kind === 'EndpointSlice') item.endpoints!.at(-1)!.conditions.ready = false;
  writeFileSync(join(dir, 'objects-slow-start.json'), JSON.stringify(cold));
  writeFileSync(join(dir, 'objects-prefer-close.json'), generateCluster({ trafficDistribution: 'PreferClose' }).objectsJson);
  writeFileSync(join(dir, 'objects-prefer-same-node.json'), generateCluster({ trafficDistribution: 'PreferSameNode' }).objectsJson);
}
if (scaleMode) {
  const large = generateCluster(LARGE_CLUSTER);
  writeFileSync(join(dir, 'objects-large.json'), large.objectsJson);
  writeFileSync(join(dir, 'queries-large.txt'), large.queries.join('\n') + '\n');
  // knot serves the same large cluster, to tell what the cluster's size costs any server here.
  mkdirSync(join(dir, 'large'));
  writeFileSync(join(dir, 'large', 'cluster.local.zone'), large.clusterZone);
  writeFileSync(join(dir, 'large', '10.in-addr.arpa.zone'), large.reverseZone);
}
writeFileSync(join(dir, 'cluster.local.zone'), cluster.clusterZone);
writeFileSync(join(dir, '10.in-addr.arpa.zone'), cluster.reverseZone);
writeFileSync(join(dir, 'queries.txt'), cluster.queries.join('\n') + '\n');
// Names outside the cluster zone, all answered by knot's example.test: lbdns forwards each once
// and then answers from its cache.
const externalNames = Array.from({ length: 1000 }, (_, i) => `host${i}.example.test`);
writeFileSync(join(dir, 'example.test.zone'), [`$ORIGIN example.test.`, `@ 3600 IN SOA ns.example.test. admin.example.test. 1 7200 1800 86400 300`, `@ 3600 IN NS ns.example.test.`, `ns 3600 IN A 127.0.0.1`, ...externalNames.map((n, i) => `${n}. 3600 IN A 198.51.100.${i % 250}`)].join('\n') + '\n');
writeFileSync(join(dir, 'queries-forwarded.txt'), externalNames.map((n) => `${n} A`).join('\n') + '\n');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Peer {
  name: string;
  port: number;
  /** The query file, when not the cluster mix. */
  queries?: string;
  start(): ChildProcess;
  /** Called once the process runs: pin every thread to the server core. */
  pin(pid: number): void;
  /** Called once it answers, before any run. */
  prepare?(): Promise<void>;
}

function pinAll(pid: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', serverCore, String(pid)], { stdio: 'ignore' });
}

/** lbdns with one serving thread on the server core, or with `workers` threads on every core. */
function lbdnsPeer(name: string, port: number, settings: string, objects = 'objects.json', workers = 1): Peer {
  const settingsFile = join(dir, `settings-${port}.yaml`);
  writeFileSync(settingsFile, settings);
  const onCores = workers === 1 ? serverCore : allCores;
  return {
    name,
    port,
    start: () =>
      spawn(
        'taskset',
        ['-c', onCores, process.execPath, ...lbdnsNodeFlags(), cli, '--config', settingsFile, '--objects', join(dir, objects), '--listen', `127.0.0.1:${port}`, '--ops-listen', `127.0.0.1:${port + 1000}`, '--debug-listen', `127.0.0.1:${port + 2000}`, '--log-level', 'warn', '--workers', String(workers)],
        { stdio: ['ignore', 'ignore', 'inherit'], env: lbdnsEnv() },
      ),
    pin: (pid) => execFileSync('taskset', ['-a', '-p', '-c', onCores, String(pid)], { stdio: 'ignore' }),
  };
}

const endpointMode = (policy: string) => `balance:\n  answer: endpoints\n  policy: ${policy}\n  clientZones:\n    127.0.0.0/8: zone-1\n`;
const policyPeers: Peer[] = [
  lbdnsPeer('shuffle', 15360, endpointMode('shuffle')),
  lbdnsPeer('weighted', 15361, endpointMode('weighted')),
  lbdnsPeer('zone', 15362, endpointMode('zone')),
  lbdnsPeer('affinity', 15363, endpointMode('weighted'), 'objects-affinity.json'),
  {
    ...lbdnsPeer('slow start (shuffle, 1 endpoint of each Service ramping)', 15367, `${endpointMode('shuffle')}  slowStartSeconds: 600\n`, 'objects-slow-start.json'),
    prepare: async () => {
      writeFileSync(join(dir, 'objects-slow-start.json'), cluster.objectsJson);
      // Ramping once svc500 answers its third endpoint (the file is read after 250 ms unchanged).
      for (let i = 0; i < 200; i++) {
        const answer = execFileSync('dig', ['@127.0.0.1', '-p', '15367', '+short', '+tries=1', '+time=1', 'svc500.ns0.svc.cluster.local', 'A']).toString();
        if (answer.trim().split('\n').length === 3) return void (await reportRamp(15367));
        await sleep(100);
      }
      throw new Error('the slow start peer never saw its endpoints ready');
    },
  },
  lbdnsPeer('PreferClose (limit)', 15364, endpointMode('shuffle'), 'objects-prefer-close.json'),
  lbdnsPeer('PreferClose (order)', 15365, `${endpointMode('shuffle')}  trafficDistribution: order\n`, 'objects-prefer-close.json'),
  // The client's node is unknown until placement from Node pod CIDRs: the node step finds none and the zone decides.
  lbdnsPeer('PreferSameNode (limit)', 15366, endpointMode('shuffle'), 'objects-prefer-same-node.json'),
];

/** How often svc500's ramping endpoint (its last) comes first: about 0.1 / 2.1 at the start of the window, 1/3 at full weight. */
async function reportRamp(port: number): Promise<void> {
  const slices = (JSON.parse(cluster.objectsJson) as { items: Array<{ kind: string; metadata: { name: string }; endpoints?: Array<{ addresses: string[] }> }> }).items;
  const ramping = slices.find((i) => i.kind === 'EndpointSlice' && i.metadata.name === 'svc500-x1')!.endpoints!.at(-1)!.addresses[0]!;
  const socket = createSocket('udp4');
  let first = 0;
  let answered = 0;
  socket.on('message', (reply) => {
    answered++;
    if (decode(reply).answers?.[0]?.data === ramping) first++;
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  for (let i = 0; i < 400; i++) {
    socket.send(buildQuery('svc500.ns0.svc.cluster.local', 'A'), port, '127.0.0.1');
    if (i % 20 === 19) await sleep(5);
  }
  await sleep(300);
  socket.close();
  console.error(`slow start peer: ${ramping} first in ${first} of ${answered} answers (${((first / answered) * 100).toFixed(1)}%; 33.3% at full weight)`);
}

/** knotd with one UDP worker on the server core, serving the zone files in `zoneDir`. */
function knotPeer(name: string, port: number, zoneDir: string, zones: string[]): Peer {
  return {
    name,
    port,
    start: () => {
      const storage = join(zoneDir, `knot-${port}`);
      mkdirSync(storage, { recursive: true });
      const configFile = join(zoneDir, `knot-${port}.conf`);
      writeFileSync(configFile, knotConfig(zoneDir, storage, port, zones));
      return spawn('taskset', ['-c', serverCore, 'knotd', '-c', configFile], { stdio: ['ignore', 'ignore', 'inherit'] });
    },
    pin: pinAll,
  };
}

const echoPeer: Peer = {
  name: 'node:dgram echo (ceiling)',
  port: 15390,
  start: () => spawn('taskset', ['-c', serverCore, process.execPath, join(root, 'bench/echo-server.ts'), '15390'], { stdio: ['ignore', 'ignore', 'inherit'] }),
  pin: pinAll,
};

const serverPeers: Peer[] = [
  echoPeer,
  lbdnsPeer('lbdns', 15353, '{}\n'),
  // The same server through node:dgram, one datagram per call: what batched I/O (the default) gains.
  lbdnsPeer('lbdns, io: dgram', 15357, 'io: dgram\n'),
  { ...lbdnsPeer('lbdns forwarding (cache hits)', 15355, 'forward:\n  upstreams: ["127.0.0.1:15354"]\n'), queries: 'queries-forwarded.txt' },
  knotPeer('knot', 15354, dir, ['cluster.local', '10.in-addr.arpa', 'example.test']),
  {
    name: 'BIND 9',
    port: 15356,
    start: () => {
      writeFileSync(join(dir, 'named.conf'), bindConfig(dir, 15356, ['cluster.local', '10.in-addr.arpa']));
      // -n 1: one worker thread, as knot gets one UDP worker; -g: foreground, logging to stderr.
      return spawn('taskset', ['-c', serverCore, 'named', '-g', '-n', '1', '-c', join(dir, 'named.conf')], { stdio: ['ignore', 'ignore', 'ignore'] });
    },
    pin: pinAll,
  },
];
const workerPeers: Peer[] = [
  echoPeer,
  lbdnsPeer('lbdns, 1 worker', 15380, '{}\n'),
  lbdnsPeer(`lbdns, ${cores} workers`, 15381, '{}\n', 'objects.json', cores),
];
const scalePeers: Peer[] = [
  lbdnsPeer('lbdns, 1,000 services', 15370, '{}\n'),
  { ...lbdnsPeer('lbdns, 10,000 services / 100,000 endpoints', 15371, '{}\n', 'objects-large.json'), queries: 'queries-large.txt' },
  // What workers cost in memory (they share the main thread's view); its queries/s share dnsperf's core.
  { ...lbdnsPeer('lbdns, 10,000 services / 100,000 endpoints, 2 workers', 15372, '{}\n', 'objects-large.json', 2), queries: 'queries-large.txt' },
  knotPeer('knot, 1,000 services', 15373, dir, ['cluster.local', '10.in-addr.arpa']),
  { ...knotPeer('knot, 10,000 services / 100,000 endpoints', 15374, join(dir, 'large'), ['cluster.local', '10.in-addr.arpa']), queries: 'queries-large.txt' },
];
const peers = policiesMode ? policyPeers : scaleMode ? scalePeers : workersMode ? workerPeers : serverPeers;
const baseline = policiesMode ? 'shuffle' : scaleMode ? 'lbdns, 1,000 services' : workersMode ? 'lbdns, 1 worker' : 'knot';
const withCeiling = !policiesMode && !scaleMode;

interface Result {
  qps: number;
  avgLatencyMs: number;
  /** From the probe, under the same load. */
  p99LatencyMs: number;
  lost: number;
  rssMiB: number;
  /** The server's CPU time over the run, in cores (1.0: one core busy all along). */
  cpuCores: number;
  /** CPU time per thread name over the run, in cores (workers mode). */
  threadCores: Map<string, number>;
  /** lbdns: the V8 heap each serving thread uses, from its /metrics. */
  threadHeapMiB: number[];
}

/**
 * dnsperf prints no percentiles (2.10), so while it loads the server a probe sends one query
 * every 5 ms from its own socket and times each answer: the p99 a client sees under that load.
 */
async function probeLatency(port: number, durationMs: number): Promise<number[]> {
  const socket = createSocket('udp4');
  const sentAt = new Map<number, number>();
  const rtts: number[] = [];
  socket.on('message', (reply) => {
    const started = sentAt.get(reply.readUInt16BE(0));
    if (started !== undefined) rtts.push(performance.now() - started);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const end = performance.now() + durationMs;
  for (let id = 0; performance.now() < end; id = (id + 1) & 0xffff) {
    sentAt.set(id, performance.now());
    const query = buildQuery('svc500.ns0.svc.cluster.local', 'A');
    query.writeUInt16BE(id, 0);
    socket.send(query, port, '127.0.0.1');
    await sleep(5);
  }
  await sleep(200);
  socket.close();
  return rtts.sort((a, b) => a - b);
}

async function dnsperf(port: number, queries = 'queries.txt'): Promise<Result & { raw: string }> {
  const probe = probeLatency(port, seconds * 1000 - 500);
  const raw = await new Promise<string>((resolve, reject) => {
    const child = spawn('taskset', ['-c', loadCore, 'dnsperf', '-s', '127.0.0.1', '-p', String(port), '-d', join(dir, queries), '-l', String(seconds), '-c', '8', '-q', '500', '-T', '1'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`dnsperf exited ${code}`))));
  });
  const rtts = await probe;
  const number = (pattern: RegExp) => Number(pattern.exec(raw)?.[1] ?? NaN);
  return {
    raw,
    qps: number(/Queries per second:\s+([\d.]+)/),
    avgLatencyMs: number(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    p99LatencyMs: rtts[Math.floor(rtts.length * 0.99)] ?? NaN,
    lost: number(/Queries lost:\s+(\d+)/),
    rssMiB: 0,
    cpuCores: 0,
    threadCores: new Map(),
    threadHeapMiB: [],
  };
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU seconds (user + system) so far of each of the process's threads, by thread name. */
function threadCpuSeconds(pid: number): Map<string, number> {
  const seconds = new Map<string, number>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      // Fields after the parenthesised name: state is the 3rd field, utime and stime the 14th and 15th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const name = readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8').trim();
      seconds.set(name, (seconds.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return seconds;
}

/** lbdns's lbdns_serving_heap_used_bytes, one value per serving thread; empty for other servers. */
async function servingHeapsMiB(opsPort: number): Promise<number[]> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    return [...text.matchAll(/^lbdns_serving_heap_used_bytes\{[^}]*\} (\S+)$/gm)].map((m) => Number(m[1]) / 2 ** 20);
  } catch {
    return [];
  }
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function ready(port: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    try {
      execFileSync('dig', ['@127.0.0.1', '-p', String(port), '+short', '+tries=1', '+time=1', 'svc500.ns0.svc.cluster.local', 'A'], { stdio: 'pipe' });
      return;
    } catch {
      await sleep(25);
    }
  }
  throw new Error(`server on ${port} never answered`);
}

const results = new Map<string, Result[]>(peers.map((p) => [p.name, []]));
const processes = new Map<string, ChildProcess>();
/** Per peer: seconds from its start until it answered, and its RSS then. */
const starts = new Map<string, { seconds: number; rssMiB: number }>();
try {
  for (const peer of peers) {
    const startedAt = performance.now();
    const child = peer.start();
    processes.set(peer.name, child);
    await ready(peer.port);
    starts.set(peer.name, { seconds: (performance.now() - startedAt) / 1000, rssMiB: rssMiB(child.pid as number) });
    // The child of taskset is the server itself: taskset execs it.
    peer.pin(child.pid as number);
    await peer.prepare?.();
  }
  for (let run = 0; run < runs; run++) {
    for (const peer of peers) {
      const pid = processes.get(peer.name)!.pid as number;
      const cpuBefore = threadCpuSeconds(pid);
      const startedAt = performance.now();
      const result = await dnsperf(peer.port, peer.queries);
      const elapsed = (performance.now() - startedAt) / 1000;
      for (const [thread, total] of threadCpuSeconds(pid)) result.threadCores.set(thread, (total - (cpuBefore.get(thread) ?? 0)) / elapsed);
      result.cpuCores = [...result.threadCores.values()].reduce((a, b) => a + b, 0);
      result.rssMiB = rssMiB(pid);
      result.threadHeapMiB = await servingHeapsMiB(peer.port + 1000);
      results.get(peer.name)!.push(result);
      console.error(`run ${run + 1}/${runs} ${peer.name}: ${result.qps.toFixed(0)} q/s, ${result.avgLatencyMs.toFixed(3)} ms avg, ${result.lost} lost`);
    }
  }
} finally {
  for (const child of processes.values()) child.kill('SIGTERM');
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const heapColumn = (list: Result[]) => {
  const last = list.at(-1)!.threadHeapMiB;
  return last.length === 0 ? '–' : last.map((mib) => mib.toFixed(0)).join(' / ');
};
// Ratios are taken run by run (each peer against the baseline's run of the same round), then the
// median of those: this machine's neighbours slow whole stretches of time, and a paired ratio
// cancels what both runs of one round suffered alike.
const pairedRatio = (list: Result[], against: Result[]) => median(list.map((r, i) => r.qps / against[i]!.qps));
const baselineRuns = results.get(baseline)!;
console.log(`\n${cluster.queries.length} queries in the mix; 1,000 services (100 headless x 10 endpoints); ${seconds}s per run, median of ${runs}; server on core ${serverCore}, dnsperf on core ${loadCore}; ratios are medians of per-round ratios\n`);
const ceilingRuns = withCeiling ? results.get(echoPeer.name)! : [];
console.log(`| ${policiesMode ? 'policy (endpoint mode)' : 'server'} | queries/s | avg latency (ms) | p99 under load (ms) | lost | RSS (MiB) | heap per serving thread (MiB) | server CPU (cores) | queries per CPU-second | vs ${baseline} |${withCeiling ? ' vs node:dgram echo |' : ''}`);
console.log(`| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${withCeiling ? ' ---: |' : ''}`);
for (const [name, list] of results) {
  const qps = median(list.map((r) => r.qps));
  console.log(`| ${name} | ${qps.toFixed(0)} | ${median(list.map((r) => r.avgLatencyMs)).toFixed(3)} | ${median(list.map((r) => r.p99LatencyMs)).toFixed(3)} | ${median(list.map((r) => r.lost))} | ${median(list.map((r) => r.rssMiB)).toFixed(1)} | ${heapColumn(list)} | ${median(list.map((r) => r.cpuCores)).toFixed(2)} | ${median(list.map((r) => r.qps / r.cpuCores)).toFixed(0)} | ${pairedRatio(list, baselineRuns).toFixed(2)} |${withCeiling ? ` ${pairedRatio(list, ceilingRuns).toFixed(2)} |` : ''}`);
}
console.log('\nStart (until the first answer; RSS then, before any run):');
for (const [name, { seconds: startSeconds, rssMiB: startRss }] of starts) console.log(`  ${name}: ${startSeconds.toFixed(2)} s, ${startRss.toFixed(1)} MiB`);
if (scaleMode) {
  const scaleRatio = (large: string, small: string) => pairedRatio(results.get(large)!, results.get(small)!).toFixed(2);
  console.log(`\n10,000 services against 1,000 (median of per-round ratios): lbdns ${scaleRatio(scalePeers[1]!.name, scalePeers[0]!.name)}, knot ${scaleRatio(scalePeers[4]!.name, scalePeers[3]!.name)}`);
}
if (workersMode) {
  console.log('\nCPU per thread (cores, median), for the lbdns rows:');
  for (const [name, list] of results) {
    if (!name.startsWith('lbdns')) continue;
    const threads = [...list[0]!.threadCores.keys()].filter((t) => median(list.map((r) => r.threadCores.get(t) ?? 0)) >= 0.01);
    console.log(`  ${name}: ${threads.map((t) => `${t} ${median(list.map((r) => r.threadCores.get(t) ?? 0)).toFixed(2)}`).join(', ')}`);
  }
}
