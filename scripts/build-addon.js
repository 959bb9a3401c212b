#!/usr/bin/env node
// npm's install step (and `npm run build:addon`): builds lbdns's native addon (native/, binding.gyp:
// batched UDP I/O and the release of freed memory) into build/Release, offline, and never fails
// the install.
//
// Offline: node-gyp is pointed (--nodedir) at the Node headers that the `node` devDependency's
// platform package carries, or at those beside the running Node, so it downloads nothing. Never
// fails: without a compiler or headers lbdns still serves (settings `io: auto` falls back to
// node:dgram and logs one line; freed memory is left to malloc), so this says in one line why and
// exits 0.
//
// Plain JavaScript that any Node since 18 runs: npm runs it before anything is built, with
// whichever `node` comes first on PATH.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function skip(reason) {
  process.stderr.write(`lbdns: native addon not built (${reason}); lbdns will serve UDP through node:dgram and leave freed memory to malloc\n`);
  process.exit(0);
}

if (process.platform !== 'linux') skip(`recvmmsg and sendmmsg are Linux's; this is ${process.platform}`);

/** A directory holding include/node/node_api.h, as node-gyp's --nodedir wants. */
const nodeDirs = [
  join(root, 'node_modules', 'node', 'node_modules', `node-${process.platform}-${process.arch}`),
  // The Node running this script, installed with its headers (the official images and tarballs).
  dirname(dirname(process.execPath)),
];
const nodeDir = nodeDirs.find((dir) => existsSync(join(dir, 'include', 'node', 'node_api.h')));
if (!nodeDir) skip(`no Node headers in ${nodeDirs.join(' or ')}`);

// npm gives its own node-gyp to the scripts it runs; elsewhere, one on PATH.
const nodeGyp = process.env.npm_config_node_gyp;
const [command, args] = nodeGyp ? [process.execPath, [nodeGyp]] : ['node-gyp', []];
const built = spawnSync(command, [...args, 'rebuild', `--nodedir=${nodeDir}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (built.error) skip(`cannot run node-gyp: ${built.error.message}`);
if (built.status !== 0) {
  const lines = `${built.stdout}\n${built.stderr}`.split('\n').filter((line) => /error|not found/i.test(line));
  skip(`node-gyp failed: ${lines.slice(0, 3).join(' | ') || `exit ${built.status}`}`);
}
process.stderr.write(`lbdns: native addon built (build/Release/lbdns_native.node: batched UDP I/O, release of freed memory; node-gyp ${nodeGyp ?? 'from PATH'} on Node ${process.versions.node}, headers from ${nodeDir})\n`);
