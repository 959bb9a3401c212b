/**
 * The container image's contents, built without Docker (deploy/build-image-contents.sh runs the
 * Dockerfile's steps): production dependencies only, the built JavaScript and the batched UDP I/O
 * addon, and it serves DNS through the addon.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { demoObjects, freePort, projectRoot } from '../helpers/lbdns-process.ts';
import { answerData, query } from '../helpers/dns-client.ts';

const run = promisify(execFile);

describe('image contents', () => {
  it('builds with npm ci, build and prune, and the pruned output serves DNS on Node 24, from worker threads, through batched UDP I/O', { timeout: 300_000 }, async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'lbdns-image-')), 'app');
    await run('bash', [join(projectRoot, 'deploy/build-image-contents.sh'), out], { timeout: 280_000, env: { ...process.env, npm_config_loglevel: 'error' } });
    assert.ok(existsSync(join(out, 'dist/cli.js')), 'built JavaScript');
    // V8 holds a source with one character beyond Latin-1 as two bytes per character (scripts/build.js).
    for (const file of readdirSync(join(out, 'dist')).filter((name) => name.endsWith('.js'))) {
      assert.ok(!/[^\x00-\x7f]/.test(readFileSync(join(out, 'dist', file), 'utf8')), `dist/${file} is ASCII`);
    }
    assert.ok(!existsSync(join(out, 'src')), 'no TypeScript sources');
    for (const dev of ['typescript', 'tsx', 'node', 'dns-packet', 'kubernetes-models']) assert.ok(!existsSync(join(out, 'node_modules', dev)), `no dev dependency ${dev}`);
    assert.ok(existsSync(join(out, 'node_modules/@kubernetes/client-node')));
    assert.ok(existsSync(join(out, 'build/Release/lbdns_native.node')), 'the addon, built by npm ci (python3, make and g++ are there)');
    // The bundle puts the code that reads package.json in a shared chunk one folder below it, not two.
    const { version } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal((await run(process.execPath, [join(out, 'bin/lbdns.js'), '--version'], { cwd: tmpdir() })).stdout, `lbdns ${version}\n`);

    const port = await freePort();
    const opsPort = await freePort();
    const debugPort = await freePort();
    const child = spawn(process.execPath, [join(out, 'bin/lbdns.js'), '--config', join(out, 'config/lbdns.yaml'), '--objects', demoObjects, '--listen', `127.0.0.1:${port}`, '--ops-listen', `127.0.0.1:${opsPort}`, '--debug-listen', `127.0.0.1:${debugPort}`, '--upstream', '127.0.0.1:9', '--workers', '2', '--io', 'batch'], { stdio: ['ignore', 'ignore', 'pipe'], cwd: tmpdir() });
    try {
      let stderr = '';
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          if (stderr.includes('serving DNS over UDP and TCP')) resolve();
        });
        child.once('exit', () => reject(new Error(`exited: ${stderr}`)));
      });
      // io: batch starts only when the addon loads from the image's contents (dist/ finds it in build/Release).
      assert.match(stderr, /"msg":"UDP through batched I\/O/);
      // Several queries, each from its own source port, so both workers (built serving-worker.js) answer.
      for (let i = 0; i < 8; i++) assert.deepEqual(answerData(await query(port, 'web.default.svc.cluster.local', 'A'), 'A'), ['10.96.0.20']);
      assert.equal((await fetch(`http://127.0.0.1:${opsPort}/ready`)).status, 200);
      const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      assert.ok(metrics.includes(`coredns_build_info{version="${version}",`), 'the version dashboards read is package.json’s');
    } finally {
      child.kill('SIGINT');
    }
  });
});
