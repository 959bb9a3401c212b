#!/usr/bin/env node
// Runs the built CLI when there is one (the container image), else the TypeScript source
// directly: Node 24 strips types itself, so a checkout needs no build step.
import { existsSync } from 'node:fs';

// Checked before anything of lbdns loads: an older Node would fail on it with a stack trace.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`lbdns: needs Node.js 24 or later; this is Node.js ${process.versions.node} (${process.execPath})\n`);
  process.exit(1);
}

// V8's compiled code of every module is kept on disk (NODE_COMPILE_CACHE, else the temp dir), so
// a restart loads lbdns in a third of the time (app.ts and its imports: 550 → 190 ms), part of
// being ready soon after a rollout. Where the directory cannot be written, nothing changes.
// enableCompileCache() is this thread's alone: a worker thread uses the cache only if
// NODE_COMPILE_CACHE is in its environment when it starts. Run from source, a worker without it
// strips the types of every module again, and Node's type stripper costs each thread ~32 MB of
// RSS for good (bench:footprint; a serving worker from src/: 45 MB, with the cache warm 13 MB).
const { enableCompileCache } = await import('node:module');
const cache = enableCompileCache?.();
if (cache?.directory && process.env.NODE_COMPILE_CACHE === undefined) process.env.NODE_COMPILE_CACHE = cache.directory;

const built = new URL('../dist/cli.js', import.meta.url);
await import(existsSync(built) ? built.href : new URL('../src/cli.ts', import.meta.url).href);
