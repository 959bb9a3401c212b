/**
 * `npm run bench:footprint`: what each import costs lbdns before it holds any cluster: the RSS and
 * heap a module adds when a fresh Node process (or a worker thread in one) imports it and nothing
 * else, after a full collection. Each row is its own process, run with the image's node flags
 * (as-image.ts), so rows do not share what they load; a row's cost includes everything the
 * module imports in turn.
 *
 * Rows: the npm packages lbdns loads, then lbdns's own entry points: what the primary loads
 * (cli.ts), what a serving worker loads (what serving-worker.ts imports: serving.ts, relay-client.ts),
 * what the objects-file parser thread loads, and the Kubernetes source (loaded only with
 * `source: kubernetes`).
 *
 * Environment: FOOTPRINT_FROM (src: the TypeScript as `npm start` runs it, Node stripping the types
 * in each thread; js: the same modules compiled by tsc into a temporary folder, none stripped; the
 * default is both), FOOTPRINT_REPEAT (3: each row's median of that many processes),
 * LBDNS_NODE_FLAGS (as-image.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { lbdnsNodeFlags } from './as-image.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const froms = (process.env.FOOTPRINT_FROM ?? 'src,js').split(',');
const repeat = Number(process.env.FOOTPRINT_REPEAT ?? 3);
for (const from of froms) if (from !== 'src' && from !== 'js') throw new Error(`FOOTPRINT_FROM lists src and js, not ${from}`);

/** tsc's output of src/ in a temporary folder beside which node_modules resolves as from lbdns's root. */
function compiled(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lbdns-footprint-'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(dir, 'js')], { stdio: 'inherit' });
  return dir;
}

/** One of lbdns's modules, as `npm start` (src) or compiled (js) loads it. */
const ownIn = (base: string, from: string) => (path: string) => pathToFileURL(join(base, from, from === 'src' ? path : path.replace(/\.ts$/, '.js'))).href;
/** An npm package, resolved from lbdns's root as lbdns's own imports resolve it. */
const pkg = (name: string) => name;

interface Target {
  label: string;
  specifier: string;
}

const targetsOf = (own: (path: string) => string): Target[] => [
  { label: 'node:worker_threads (the baseline: nothing of lbdns)', specifier: 'node:worker_threads' },
  { label: 'pino', specifier: pkg('pino') },
  { label: 'lru-cache', specifier: pkg('lru-cache') },
  { label: 'yaml', specifier: pkg('yaml') },
  { label: 'zod', specifier: pkg('zod') },
  { label: 'prom-client', specifier: pkg('prom-client') },
  { label: '@kubernetes/client-node', specifier: pkg('@kubernetes/client-node') },
  { label: 'lbdns: a serving worker (server/serving.ts, workers/relay-client.ts)', specifier: own('server/serving.ts') + ' ' + own('workers/relay-client.ts') },
  { label: 'lbdns: the objects-file parser thread (what objects-file-worker.ts imports)', specifier: own('sources/objects-file.ts') + ' ' + own('sources/objects-diff.ts') + ' ' + own('sources/stable-file.ts') },
  { label: 'lbdns: the primary (cli.ts, app.ts and what they import)', specifier: own('app.ts') + ' ' + own('settings/load.ts') },
  { label: 'lbdns: the Kubernetes source (sources/kubernetes/kubernetes-source.ts)', specifier: own('sources/kubernetes/kubernetes-source.ts') },
];

/**
 * Run in the child, in the main thread or a worker thread: RSS and heap before and after the
 * imports, each after a full collection. The thread's own baseline (a worker's isolate) is in the
 * "before" and so not counted.
 */
const probe = `
const { setFlagsFromString } = await import('node:v8');
const { runInNewContext } = await import('node:vm');
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
const settle = async () => { for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setTimeout(r, 20)); } };
await settle();
const before = process.memoryUsage();
for (const specifier of SPECIFIERS) await import(specifier);
await settle();
const after = process.memoryUsage();
REPORT({ rss: after.rss - before.rss, heap: after.heapUsed - before.heapUsed, external: after.external - before.external });
`;

function childSource(specifiers: string[], thread: 'main' | 'worker'): string {
  // Resolved here, from lbdns's root: a worker started from a data: URL cannot resolve a package name.
  const resolve = `const SPECIFIERS = ${JSON.stringify(specifiers)}.map((s) => import.meta.resolve(s));\n`;
  if (thread === 'main') return `${resolve}const REPORT = (cost) => console.log(JSON.stringify(cost));\n${probe}`;
  // The worker's code is a data: URL module, so that it may use top-level await.
  const workerCode = `const { parentPort, workerData: SPECIFIERS } = await import('node:worker_threads');\nconst REPORT = (cost) => parentPort.postMessage(cost);\n${probe}`;
  return `${resolve}
const { Worker } = await import('node:worker_threads');
const worker = new Worker(new URL(${JSON.stringify('data:text/javascript,' + encodeURIComponent(workerCode))}), { workerData: SPECIFIERS });
worker.on('message', (m) => { console.log(JSON.stringify(m)); worker.terminate(); });
worker.on('error', (e) => { console.error(e); process.exit(1); });
`;
}

interface Cost {
  rss: number;
  heap: number;
  external: number;
}

function measure(target: Target, thread: 'main' | 'worker', cwd: string): Cost {
  const specifiers = target.specifier.split(' ');
  const runs: Cost[] = [];
  for (let i = 0; i < repeat; i++) {
    // --input-type=module with the code on stdin: the child resolves packages from lbdns's root (its cwd).
    const out = execFileSync(process.execPath, [...lbdnsNodeFlags(), '--input-type=module', '-'], { cwd, input: childSource(specifiers, thread), encoding: 'utf8' });
    runs.push(JSON.parse(out.trim().split('\n').at(-1)!) as Cost);
  }
  const median = (key: keyof Cost) => runs.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
  return { rss: median('rss'), heap: median('heap'), external: median('external') };
}

const mib = (bytes: number) => (bytes / 1048576).toFixed(1);
for (const from of froms) {
  const base = from === 'src' ? root : compiled();
  try {
    console.log(`\nWhat an import adds to a fresh process or worker thread, after a full collection (lbdns's modules ${from === 'src' ? 'from src/, types stripped by Node' : 'compiled by tsc'}, node ${lbdnsNodeFlags().join(' ') || '(no flags)'}, median of ${repeat})\n`);
    console.log('| import | main thread: RSS | heap | worker thread: RSS | heap |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const target of targetsOf(ownIn(base, from))) {
      const main = measure(target, 'main', base);
      const worker = measure(target, 'worker', base);
      console.log(`| ${target.label} | ${mib(main.rss)} MiB | ${mib(main.heap)} MiB | ${mib(worker.rss)} MiB | ${mib(worker.heap)} MiB |`);
    }
  } finally {
    if (base !== root) rmSync(base, { recursive: true, force: true });
  }
}
