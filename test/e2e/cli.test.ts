/** The command line: help, settings validation with the key named, and the README's commands. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { answerData, query } from '../helpers/dns-client.ts';

const run = promisify(execFile);
const cli = join(projectRoot, 'bin/lbdns.js');

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { cwd: projectRoot, timeout: 10_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('lbdns command line', () => {
  it('prints usage with --help', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /--objects FILE/);
  });

  it('rejects an unknown flag with the usage', async () => {
    const result = await runCli(['--bogus']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /bogus/);
  });

  it('rejects settings with a wrong type or an unknown key, naming the key', async () => {
    const wrongType = await runCli(['--config', tempFile('lbdns.yaml', 'ttl: five\n')]);
    assert.equal(wrongType.code, 2);
    assert.match(wrongType.stderr, /lbdns\.yaml: ttl: /);
    const unknown = await runCli(['--config', tempFile('lbdns.yaml', 'reverse:\n  fallthru: true\n')]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /reverse\.fallthru: unknown key/);
    const badZone = await runCli(['--zone', 'a..b']);
    assert.equal(badZone.code, 2);
    assert.match(badZone.stderr, /zones\[0\]/);
    const badUpstream = await runCli(['--config', tempFile('lbdns.yaml', 'forward:\n  stubDomains:\n    corp.example: [10.0.0.1:99999]\n')]);
    assert.equal(badUpstream.code, 2);
    assert.match(badUpstream.stderr, /forward\.stubDomains\.corp\.example\[0\]: upstream "10\.0\.0\.1:99999"/);
    const badWorkers = await runCli(['--workers', 'many']);
    assert.equal(badWorkers.code, 2);
    assert.match(badWorkers.stderr, /workers: /);
  });

  it('lets flags override the settings file', async () => {
    const config = tempFile('lbdns.yaml', 'zones: [example.internal]\nttl: 42\n');
    const server = await startLbdns({ config, args: ['--zone', 'flag.internal'] });
    try {
      const reply = await query(server.port, 'web.default.svc.flag.internal', 'A');
      assert.deepEqual(answerData(reply, 'A'), ['10.96.0.20']);
      assert.equal(reply.answers?.[0]?.ttl, 42);
    } finally {
      await server.stop();
    }
  });

  it('on SIGTERM turns /ready 503 at once, keeps answering for the drain time, then exits 0', async () => {
    const server = await startLbdns({ config: tempFile('lbdns.yaml', 'shutdown:\n  drainSeconds: 1.5\n') });
    assert.equal((await fetch(`http://127.0.0.1:${server.opsPort}/ready`)).status, 200);
    const stopped = server.stop('SIGTERM');
    const signalled = performance.now();
    await server.waitForLog((l) => String(l.msg).startsWith('not ready any more'));
    assert.equal((await fetch(`http://127.0.0.1:${server.opsPort}/ready`)).status, 503);
    assert.equal((await fetch(`http://127.0.0.1:${server.opsPort}/health`)).status, 200);
    assert.deepEqual(answerData(await query(server.port, 'web.default.svc.cluster.local', 'A'), 'A'), ['10.96.0.20'], 'still answering while draining');
    assert.equal(await stopped, 0);
    assert.ok(performance.now() - signalled >= 1400, 'waited for the drain time');
  });
});
