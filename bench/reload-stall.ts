/**
 * `npm run bench:reload`: how long answers wait while lbdns reloads a large objects file. The real
 * CLI serves bench:scale's large cluster (10,000 Services, 100,000 endpoints, ~13 MB of JSON); a
 * client thread sends DNS queries at a steady pace and times each answer, while the file is
 * replaced (write a new file, rename it over) with versions that move one endpoint address in
 * every tenth EndpointSlice. Prints, per worker count, the answer latency while no reload runs,
 * the worst and p99 latency during the reloads, and how long each reload took to become visible
 * (replace → every probed name answers the new address).
 *
 * Environment: RELOAD_WORKERS (comma-separated serving thread counts, default "1,2"),
 * RELOAD_ROUNDS (reloads per run, default 4), RELOAD_RATE (queries/s, default 500),
 * LBDNS_BIN (the CLI to run, default this checkout's bin/lbdns.js: point it at another checkout to
 * compare versions).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { LARGE_CLUSTER, generateCluster } from './cluster.ts';
import { freePort } from '../test/helpers/lbdns-process.ts';
import { buildQuery, decode, udpExchange } from '../test/helpers/dns-client.ts';
import { reverseNameOf } from '../src/resolve/reverse-name.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = process.env.LBDNS_BIN ?? join(root, 'bin/lbdns.js');
const workerCounts = (process.env.RELOAD_WORKERS ?? '1,2').split(',').map(Number);
const rounds = Number(process.env.RELOAD_ROUNDS ?? 4);
const rate = Number(process.env.RELOAD_RATE ?? 500);
const QUERY_TIMEOUT_MS = 2000;

interface KubeItem {
  kind: string;
  metadata: { name: string; namespace?: string };
  endpoints?: Array<{ addresses: string[] }>;
}

const cluster = generateCluster(LARGE_CLUSTER);
const dir = mkdtempSync(join(tmpdir(), 'lbdns-reload-'));
const path = join(dir, 'objects.json');
writeFileSync(path, cluster.objectsJson);

/** The original file, and a version with endpoint 0 of every tenth slice moved to 10.250.0.0/16. */
const original = JSON.parse(cluster.objectsJson) as { items: KubeItem[] };
const slices = original.items.filter((item) => item.kind === 'EndpointSlice');
const moved = slices.filter((_, i) => i % 10 === 0);
const movedAddress = (k: number) => `10.250.${Math.floor(k / 250)}.${(k % 250) + 1}`;
const originalAddress = new Map(moved.map((slice) => [slice, slice.endpoints![0]!.addresses[0]!]));
moved.forEach((slice, k) => (slice.endpoints![0]!.addresses = [movedAddress(k)]));
const stagedMoved = join(dir, 'moved.json');
writeFileSync(stagedMoved, JSON.stringify(original));
const stagedOriginal = join(dir, 'original.json');
writeFileSync(stagedOriginal, cluster.objectsJson);
const fileMb = cluster.objectsJson.length / 1e6;

/**
 * Names that show a version is in: the first moved slice belongs to a headless Service (its A
 * answer lists the endpoint), the last to a ClusterIP one (the endpoint's PTR names it). The view
 * is updated in some order, so both ends of the file are probed.
 */
function probes(version: 'moved' | 'original'): Array<{ name: string; type: string; has: string }> {
  const first = moved[0]!;
  const last = moved[moved.length - 1]!;
  const firstAddress = version === 'moved' ? movedAddress(0) : originalAddress.get(first)!;
  const lastAddress = version === 'moved' ? movedAddress(moved.length - 1) : originalAddress.get(last)!;
  const service = first.metadata.name.replace(/-x1$/, '');
  return [
    { name: `${service}.${first.metadata.namespace}.svc.cluster.local`, type: 'A', has: firstAddress },
    { name: reverseNameOf(lastAddress), type: 'PTR', has: last.metadata.name.replace(/-x1$/, '') },
  ];
}

/**
 * The longest the primary thread's event loop was held since the last call (prom-client's
 * monitorEventLoopDelay, reset on each scrape), in ms: with one worker, the thread that serves.
 * A measure from inside, beside the client's, which also counts the time the machine's other
 * processes take the CPU.
 */
async function loopLagMaxMs(opsPort: number): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${opsPort}/metrics`).then((r) => r.text());
  return Number(/^lbdns_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1] ?? NaN) * 1000;
}

async function shows(port: number, probe: { name: string; type: string; has: string }): Promise<boolean> {
  const reply = await udpExchange(port, buildQuery(probe.name, probe.type), 1000);
  return reply !== null && (decode(reply).answers ?? []).some((a) => String(a.data).includes(probe.has));
}

/** The paced client, in its own thread so that the bench's own work never delays its timing. */
const CLIENT = `
const { parentPort, workerData } = require('node:worker_threads');
const { createSocket } = require('node:dgram');
const { port, rate, queries, timeoutMs } = workerData;
const socket = createSocket('udp4');
const sent = new Map();
const results = [];
let id = 0, next = performance.now(), stopping = false;
socket.on('message', (reply) => {
  const key = reply.readUInt16BE(0);
  const at = sent.get(key);
  if (at === undefined) return;
  sent.delete(key);
  results.push(performance.timeOrigin + at, performance.now() - at);
});
const timer = setInterval(() => {
  const now = performance.now();
  for (const [key, at] of sent) if (now - at > timeoutMs) { sent.delete(key); results.push(performance.timeOrigin + at, -1); }
  if (stopping) return;
  while (next <= now) {
    const query = Buffer.from(queries[id % queries.length]);
    const key = id++ & 0xffff;
    query.writeUInt16BE(key, 0);
    sent.set(key, performance.now());
    socket.send(query, port, '127.0.0.1');
    next += 1000 / rate;
  }
}, 1);
parentPort.on('message', () => {
  stopping = true;
  setTimeout(() => { clearInterval(timer); socket.close(); parentPort.postMessage(results); }, timeoutMs + 100);
});
`;

interface Sample {
  /** When the query was sent, as epoch milliseconds. */
  at: number;
  /** Milliseconds to the answer; -1 when none came. */
  ms: number;
}

function summarize(samples: Sample[]): { count: number; lost: number; p99: number; worst: number } {
  const answered = samples.filter((s) => s.ms >= 0).map((s) => s.ms).sort((a, b) => a - b);
  const p99 = answered[Math.min(answered.length - 1, Math.floor(answered.length * 0.99))] ?? NaN;
  return { count: samples.length, lost: samples.length - answered.length, p99, worst: answered[answered.length - 1] ?? NaN };
}

async function run(workers: number): Promise<string[]> {
  copyFileSync(stagedOriginal, path);
  const dnsPort = await freePort();
  const opsPort = await freePort();
  writeFileSync(join(dir, 'lbdns.yaml'), '{}\n');
  const args = [bin, '--config', join(dir, 'lbdns.yaml'), '--objects', path, '--listen', `127.0.0.1:${dnsPort}`, '--ops-listen', `127.0.0.1:${opsPort}`, '--log-level', 'warn', '--workers', String(workers)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    const started = performance.now();
    while (!(await fetch(`http://127.0.0.1:${opsPort}/ready`).then((r) => r.ok, () => false))) {
      if (performance.now() - started > 120_000) throw new Error('not ready within 2 minutes');
      await new Promise((r) => setTimeout(r, 50));
    }
    const queries = cluster.queries.map((line) => {
      const [name, type] = line.split(' ');
      return buildQuery(name!, type!);
    });
    const client = new Worker(CLIENT, { eval: true, workerData: { port: dnsPort, rate, queries, timeoutMs: QUERY_TIMEOUT_MS } });
    const windows: Array<{ from: number; to: number }> = [];
    const durations: number[] = [];
    // Steady load first: the latency with no reload, to compare with.
    const quietFrom = Date.now() + 500;
    await new Promise((r) => setTimeout(r, 500));
    await loopLagMaxMs(opsPort);
    await new Promise((r) => setTimeout(r, 2500));
    const quietLag = await loopLagMaxMs(opsPort);
    const quietTo = Date.now();
    const reloadLags: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const version = round % 2 === 0 ? 'moved' : 'original';
      const staged = join(dir, '.objects.json.tmp');
      copyFileSync(version === 'moved' ? stagedMoved : stagedOriginal, staged);
      await loopLagMaxMs(opsPort);
      const from = Date.now();
      const t0 = performance.now();
      renameSync(staged, path);
      for (const probe of probes(version)) {
        while (!(await shows(dnsPort, probe))) {
          if (performance.now() - t0 > 60_000) throw new Error(`reload ${round + 1} not visible within 60 s`);
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      durations.push(performance.now() - t0);
      windows.push({ from, to: Date.now() + 200 });
      await new Promise((r) => setTimeout(r, 200));
      reloadLags.push(await loopLagMaxMs(opsPort));
      await new Promise((r) => setTimeout(r, 1300));
    }
    const flat = await new Promise<number[]>((resolve) => {
      client.once('message', resolve);
      client.postMessage('stop');
    });
    await client.terminate();
    const samples: Sample[] = [];
    for (let i = 0; i < flat.length; i += 2) samples.push({ at: flat[i]!, ms: flat[i + 1]! });
    const quiet = summarize(samples.filter((s) => s.at >= quietFrom && s.at < quietTo));
    const during = summarize(samples.filter((s) => windows.some((w) => s.at >= w.from && s.at < w.to)));
    durations.sort((a, b) => a - b);
    const lag = (ms: number) => (workers === 1 ? ms.toFixed(0) : '');
    return [
      `| ${workers} | no reload | ${quiet.count} | ${quiet.lost} | ${quiet.p99.toFixed(1)} | ${quiet.worst.toFixed(1)} | ${lag(quietLag)} | |`,
      `| ${workers} | during ${rounds} reloads | ${during.count} | ${during.lost} | ${during.p99.toFixed(1)} | ${during.worst.toFixed(1)} | ${lag(Math.max(...reloadLags))} | ${(durations[Math.floor(durations.length / 2)]! / 1000).toFixed(2)} s (max ${(durations[durations.length - 1]! / 1000).toFixed(2)} s) |`,
    ];
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }
}

const rows: string[] = [];
for (const workers of workerCounts) rows.push(...(await run(workers)));
console.log(`\nobjects file ${fileMb.toFixed(1)} MB (${slices.length} EndpointSlices, ${moved.length} of them change per reload); ${rate} queries/s; ${bin}\n`);
console.log('| workers | window | queries | unanswered | p99 ms | worst ms | serving loop held, max ms | reload visible after (median) |');
console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const row of rows) console.log(row);
