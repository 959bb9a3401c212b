#!/usr/bin/env node
// `npm run build`: what the image runs, in dist/: lbdns bundled by esbuild into one file per
// thread it starts (cli.js, the primary; serving-worker.js; objects-file-worker.js) and the
// chunks they share, side by side in dist/ (the workers are found beside the code that starts
// them, the package root one folder up). Bundling loads only the parts of a package lbdns uses:
// of @kubernetes/client-node, KubeConfig and what it loads for credentials instead of every generated
// API (680 KB of its code instead of 62 MB on disk; importing the Kubernetes source into a fresh
// process: +35 to +41 instead of +72 MiB RSS, +9 instead of +28 MiB heap).
// The Kubernetes source and node-local mode's Node lookup stay their own chunks, loaded only
// when used, as app.ts and node-zone.ts import them. Not minified: stack traces keep the names.
//
// Type checking is `npm run typecheck` (and npm test); esbuild only strips the types.
//
// `node scripts/build.js DIR` builds into DIR instead (emptied first), for a copy of the image's
// layout elsewhere: the benches run lbdns from one (bench/as-image.ts), never from a dist/ here
// that bin/lbdns.js would then run in place of the source.
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist');

rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: {
    cli: 'src/cli.ts',
    'serving-worker': 'src/workers/serving-worker.ts',
    'objects-file-worker': 'src/sources/objects-file-worker.ts',
  },
  outdir,
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  // The CommonJS packages bundled (pino, prom-client, …) call require for Node's modules and their
  // optional dependencies; in an ES module it has to be made.
  banner: { js: "import { createRequire as lbdnsCreateRequire } from 'node:module'; const require = lbdnsCreateRequire(import.meta.url);" },
  // Code is ASCII (non-ASCII escaped), which the step below relies on.
  charset: 'ascii',
  logLevel: 'warning',
});

// esbuild keeps some comments as they are, and ours hold a few characters beyond Latin-1 (→, —,
// …). One such character makes V8 hold the whole file's source as two bytes per character in
// every thread that loads it, for as long as it runs: the primary's bundle took 2.0 MiB of heap
// instead of 1.0, the Kubernetes client's 5.6 instead of 2.8 (heap snapshots). Only comments can
// hold them (charset: 'ascii' escapes the code's), so they are spelled as \u{…} there.
for (const file of readdirSync(outdir)) {
  if (!file.endsWith('.js')) continue;
  const path = join(outdir, file);
  const text = readFileSync(path, 'utf8');
  const ascii = text.replace(/[^\x00-\x7f]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
  if (ascii !== text) writeFileSync(path, ascii);
}
