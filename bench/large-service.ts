/**
 * `npm run bench:large-service`: what one query costs per balancing policy on a 4-endpoint Service
 * and on a 10,000-endpoint one. A query's work should follow the records it sends (about 73 A
 * records fit 1232 bytes), not the Service's size: the large/small ratio of queries per second
 * says how far it does (1.00: no cost for the size at all).
 *
 * Two tables. dnsperf against the real CLI (1 serving thread on its own core, dnsperf on another,
 * EDNS), one run per policy and size, small and large alternating, when dnsperf and taskset are
 * installed: what a client sees. Then in process, like bench:handler: each policy's query
 * (EDNS 1232) through `QueryHandler.handle` again and again, in queries per CPU-second: the
 * handler's own cost, without the socket work that dominates a small answer. Ratios are medians
 * of per-round ratios.
 *
 * Environment: LARGE_ROUNDS (default 3 with dnsperf, 9 in process), LARGE_DNSPERF_SECONDS (per
 * run, default 4; 0 skips dnsperf), LARGE_ROUND_MS (CPU milliseconds per in-process round and
 * Service, default 60).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseObjectsText } from '../src/sources/objects-file.ts';
import { ClusterView } from '../src/view/cluster-view.ts';
import { parseSettings } from '../src/settings/schema.ts';
import { ServingThread } from '../src/server/serving.ts';
import { createLogger } from '../src/log.ts';
import { buildQuery } from '../test/helpers/dns-client.ts';

const SMALL = 4;
const LARGE = 10_000;
const dnsperfSeconds = Number(process.env.LARGE_DNSPERF_SECONDS ?? 4);
const dnsperfRounds = Number(process.env.LARGE_ROUNDS ?? 3);
const inProcessRounds = Number(process.env.LARGE_ROUNDS ?? 9);
const roundMs = Number(process.env.LARGE_ROUND_MS ?? 60);

type Size = 'small' | 'large';

interface Policy {
  /** The row's name. */
  name: string;
  /** The Service's name stem: `<stem>-small` and `<stem>-large`. */
  stem: string;
  annotations: Record<string, string>;
  headless?: boolean;
  affinity?: boolean;
  qtype?: 'A' | 'SRV';
  /** Endpoints in 127.<base>.0.0/16 (a client dnsperf can send from shares a prefix with them) instead of 10.<base>.0.0/16. */
  loopbackEndpoints?: boolean;
  /** The client addresses the in-process queries come from, in turn; dnsperf sends from the first. */
  clients: (base: number) => string[];
}

const endpointMode = { 'lbdns.io/answer': 'endpoints', 'lbdns.io/client-sort': 'none' };
const weights = { 'lbdns.io/weights': 'zone-0=3,zone-1=1,zone-2=1' };
// 127.0.0.0/8 is zone-1 (settings below); only the rfc6724 row's endpoints live there.
const oneClient = () => ['127.0.0.1'];
const manyClients = () => Array.from({ length: 1024 }, (_, i) => `127.0.${i >> 8}.${(i & 255) + 1}`);

const policies: Policy[] = [
  { name: 'shuffle (headless)', stem: 'headless', annotations: {}, headless: true, clients: oneClient },
  { name: 'shuffle (endpoint mode)', stem: 'shuffle', annotations: { ...endpointMode, 'lbdns.io/policy': 'shuffle' }, clients: oneClient },
  { name: 'weighted', stem: 'weighted', annotations: { ...endpointMode, 'lbdns.io/policy': 'weighted', ...weights }, clients: oneClient },
  { name: 'zone (A)', stem: 'zone', annotations: { ...endpointMode, 'lbdns.io/policy': 'zone' }, clients: oneClient },
  { name: 'zone (SRV)', stem: 'zone', annotations: { ...endpointMode, 'lbdns.io/policy': 'zone' }, qtype: 'SRV', clients: oneClient },
  { name: 'ClientIP affinity (weighted)', stem: 'affinity', annotations: { ...endpointMode, 'lbdns.io/policy': 'weighted', ...weights }, affinity: true, clients: manyClients },
  { name: 'maxAnswers 10', stem: 'capped', annotations: { ...endpointMode, 'lbdns.io/policy': 'shuffle', 'lbdns.io/max-answers': '10' }, clients: oneClient },
  // The client shares a /16 with every endpoint: the trim has work to do.
  { name: 'clientSort rfc6724', stem: 'sorted', annotations: { 'lbdns.io/answer': 'endpoints', 'lbdns.io/policy': 'shuffle' }, loopbackEndpoints: true, clients: (base) => [`127.${base}.3.77`] },
];

/** Each Service's endpoints live in their own /16, spread over three zones, 1,000 per slice. */
function serviceObjects(name: string, policy: Policy, count: number, base: number): unknown[] {
  const ports = [{ name: 'http', port: 80, protocol: 'TCP' }];
  const items: unknown[] = [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'bench', annotations: policy.annotations },
      spec: { clusterIP: policy.headless ? 'None' : `10.96.0.${base}`, ports, ...(policy.affinity ? { sessionAffinity: 'ClientIP' } : {}) },
    },
  ];
  const first = policy.loopbackEndpoints ? 127 : 10;
  for (let from = 0; from < count; from += 1000) {
    const endpoints = [];
    for (let i = from; i < Math.min(count, from + 1000); i++) {
      endpoints.push({ addresses: [`${first}.${base}.${Math.floor(i / 250)}.${(i % 250) + 1}`], conditions: { ready: true }, zone: `zone-${i % 3}` });
    }
    items.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-${from / 1000}`, namespace: 'bench', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints,
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
  }
  return items;
}

const stems = [...new Set(policies.map((p) => p.stem))];
const baseOf = (stem: string, size: Size) => 100 + 2 * stems.indexOf(stem) + (size === 'large' ? 1 : 0);
const items: unknown[] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } }];
for (const stem of stems) {
  const policy = policies.find((p) => p.stem === stem)!;
  items.push(...serviceObjects(`${stem}-small`, policy, SMALL, baseOf(stem, 'small')), ...serviceObjects(`${stem}-large`, policy, LARGE, baseOf(stem, 'large')));
}
const objectsJson = JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const rawSettings = { balance: { clientZones: { '127.0.0.0/8': 'zone-1' } } };

function questionName(policy: Policy, size: Size): string {
  const service = `${policy.stem}-${size}.bench.svc.cluster.local`;
  return policy.qtype === 'SRV' ? `_http._tcp.${service}` : service;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const pairedRatio = (large: number[], small: number[]) => median(large.map((q, i) => q / small[i]!));

function installed(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function dnsperfTable(): Promise<void> {
  if (dnsperfSeconds <= 0) return;
  if (!installed('dnsperf') || !installed('taskset') || !installed('dig')) {
    console.log('(dnsperf table skipped: dnsperf, taskset or dig missing)\n');
    return;
  }
  const root = fileURLToPath(new URL('..', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'lbdns-large-'));
  writeFileSync(join(dir, 'objects.json'), objectsJson);
  writeFileSync(join(dir, 'lbdns.yaml'), JSON.stringify(rawSettings));
  const serverCore = availableParallelism() > 1 ? '1' : '0';
  const port = 15420;
  const server: ChildProcess = spawn(
    'taskset',
    ['-c', serverCore, process.execPath, join(root, 'bin/lbdns.js'), '--config', join(dir, 'lbdns.yaml'), '--objects', join(dir, 'objects.json'), '--listen', `127.0.0.1:${port}`, '--ops-listen', `127.0.0.1:${port + 1}`, '--log-level', 'warn', '--workers', '1'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  try {
    // Until a probe is answered: at start, and after each run, when queries of a slow run may
    // still wait in the socket's buffer and would count against the next run.
    const settle = async () => {
      for (let i = 0; i < 300; i++) {
        try {
          execFileSync('dig', ['@127.0.0.1', '-p', String(port), '+short', '+tries=1', '+time=1', 'weighted-small.bench.svc.cluster.local', 'A'], { stdio: 'pipe' });
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    await settle();
    execFileSync('taskset', ['-a', '-p', '-c', serverCore, String(server.pid)], { stdio: 'ignore' });
    const run = (policy: Policy, size: Size) =>
      new Promise<number>((resolve, reject) => {
        const file = join(dir, `${policy.name.replace(/\W+/g, '-')}-${size}.txt`);
        writeFileSync(file, `${questionName(policy, size)} ${policy.qtype ?? 'A'}\n`);
        const from = policy.clients(baseOf(policy.stem, size))[0]!;
        const args = ['-c', '0', 'dnsperf', '-s', '127.0.0.1', '-p', String(port), '-a', from, '-d', file, '-l', String(dnsperfSeconds), '-c', '8', '-q', '500', '-T', '1', '-e'];
        const child = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'ignore'] });
        let text = '';
        child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
        child.once('exit', (code) => (code === 0 ? resolve(Number(/Queries per second:\s+([\d.]+)/.exec(text)?.[1] ?? NaN)) : reject(new Error(`dnsperf exited ${code}`))));
      });
    const results = policies.map(() => ({ small: [] as number[], large: [] as number[] }));
    for (let round = 0; round < dnsperfRounds; round++) {
      for (const [i, policy] of policies.entries()) {
        results[i]!.small.push(await run(policy, 'small'));
        await settle();
        results[i]!.large.push(await run(policy, 'large'));
        await settle();
        console.error(`dnsperf round ${round + 1}/${dnsperfRounds} ${policy.name}: ${results[i]!.small.at(-1)!.toFixed(0)} / ${results[i]!.large.at(-1)!.toFixed(0)} q/s`);
      }
    }
    console.log(`dnsperf: the real CLI with 1 serving thread on core ${serverCore}, dnsperf on core 0 (EDNS, 8 clients, 500 outstanding), ${dnsperfSeconds}s per run, median of ${dnsperfRounds}\n`);
    console.log('| policy | q/s, 4 endpoints | q/s, 10,000 endpoints | large / small |');
    console.log('| --- | ---: | ---: | ---: |');
    for (const [i, policy] of policies.entries()) {
      const { small, large } = results[i]!;
      console.log(`| ${policy.name} | ${median(small).toFixed(0)} | ${median(large).toFixed(0)} | ${pairedRatio(large, small).toFixed(2)} |`);
    }
    console.log('');
  } finally {
    server.kill('SIGTERM');
  }
}

function inProcessTable(): void {
  const view = new ClusterView();
  view.replaceAll(parseObjectsText(objectsJson, 'bench').objects);
  const serving = new ServingThread(view, parseSettings(rawSettings, 'bench'), createLogger('warn'), { ready: true });

  /** Queries per CPU-second over one round of at least `roundMs` of CPU time, and the answers' mean record count. */
  const measure = (query: Buffer, clients: string[]): { qps: number; records: number } => {
    let records = 0;
    let done = 0;
    const started = process.cpuUsage();
    let used = 0;
    while (used < roundMs * 1000) {
      for (let i = 0; i < 16; i++) {
        const response = serving.currentHandler.handle(query, 'udp', clients[done % clients.length]!);
        if (response instanceof Buffer) records += response.readUInt16BE(6);
        done++;
      }
      const cpu = process.cpuUsage(started);
      used = cpu.user + cpu.system;
    }
    return { qps: (done * 1e6) / used, records: records / done };
  };

  const rows = policies.map((policy) => {
    const query = (size: Size) => buildQuery(questionName(policy, size), policy.qtype ?? 'A', { udpSize: 1232 });
    return { policy, small: query('small'), large: query('large'), smallClients: policy.clients(baseOf(policy.stem, 'small')), largeClients: policy.clients(baseOf(policy.stem, 'large')) };
  });
  // Warm-up: prepares and caches every answer and lets the JIT settle before any row is timed.
  for (let pass = 0; pass < 3; pass++) {
    for (const row of rows) {
      measure(row.small, row.smallClients);
      measure(row.large, row.largeClients);
    }
  }
  console.log(`in process: the handler alone, one query at a time (EDNS 1232), in queries per CPU-second; ${inProcessRounds} rounds of ${roundMs} ms per Service, medians\n`);
  console.log('| policy | q/s, 4 endpoints | q/s, 10,000 endpoints | records sent (4 / 10,000) | large / small |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const row of rows) {
    const small: Array<{ qps: number; records: number }> = [];
    const large: Array<{ qps: number; records: number }> = [];
    for (let round = 0; round < inProcessRounds; round++) {
      small.push(measure(row.small, row.smallClients));
      large.push(measure(row.large, row.largeClients));
    }
    const records = `${small[0]!.records.toFixed(0)} / ${large[0]!.records.toFixed(0)}`;
    const ratio = pairedRatio(
      large.map((r) => r.qps),
      small.map((r) => r.qps),
    );
    console.log(`| ${row.policy.name} | ${median(small.map((r) => r.qps)).toFixed(0)} | ${median(large.map((r) => r.qps)).toFixed(0)} | ${records} | ${ratio.toFixed(2)} |`);
  }
}

await dnsperfTable();
inProcessTable();
