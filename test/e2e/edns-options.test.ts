/**
 * DNS cookies and NSID as `dig` sees them, against the real CLI: a client that shares no code
 * with lbdns, sending the options as resolvers do.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { run, skipWithoutDig } from '../helpers/tools.ts';

const skip = skipWithoutDig;

async function dig(server: RunningServer, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(server.port), '+tries=1', '+time=2', ...args]);
  return stdout;
}

const status = (output: string): string | undefined => /status: ([A-Z]+)/.exec(output)?.[1];
const cookie = (output: string): string | undefined => /; COOKIE: ([0-9a-f]+)/.exec(output)?.[1];

describe('dig +cookie and +nsid', { skip }, () => {
  let server: RunningServer;
  before(async () => {
    server = await startLbdns({ env: { HOSTNAME: 'lbdns-replica-a' } });
  });
  after(async () => {
    await server.stop();
  });

  it('dig +nsid shows the pod name', async () => {
    const output = await dig(server, '+nsid', 'web.default.svc.cluster.local', 'A');
    assert.equal(status(output), 'NOERROR');
    assert.match(output, /; NSID: .*\("lbdns-replica-a"\)/);
    assert.doesNotMatch(await dig(server, 'web.default.svc.cluster.local', 'A'), /NSID/);
  });

  it('dig +cookie gets a server cookie that dig finds good, and the same one back when it sends it', async () => {
    const first = await dig(server, '+cookie', 'web.default.svc.cluster.local', 'A');
    assert.equal(status(first), 'NOERROR');
    assert.match(first, /; COOKIE: [0-9a-f]{48} \(good\)/);
    const sent = cookie(first)!;
    const again = await dig(server, `+cookie=${sent}`, 'web.default.svc.cluster.local', 'A');
    assert.equal(cookie(again), sent);
    assert.match(again, /\(good\)/);
  });

  it('dig +cookie with a cookie of a malformed length gets FORMERR', async () => {
    for (const hex of ['0011', '00112233445566778899', '00'.repeat(15)]) {
      assert.equal(status(await dig(server, `+cookie=${hex}`, 'web.default.svc.cluster.local', 'A')), 'FORMERR', hex);
    }
    assert.equal(status(await dig(server, `+cookie=${'00'.repeat(8)}`, 'web.default.svc.cluster.local', 'A')), 'NOERROR');
  });
});

describe('cookies across serving workers', { skip }, () => {
  let server: RunningServer;
  before(async () => {
    server = await startLbdns({ workers: 2, config: tempFile('lbdns.yaml', 'cookies:\n  strict: true\n') });
  });
  after(async () => {
    await server.stop();
  });

  it('every worker accepts a cookie another minted (strict: a worker that did not would answer BADCOOKIE)', async () => {
    // dig retries a BADCOOKIE answer by itself, with the cookie it was given.
    const sent = cookie(await dig(server, '+cookie', 'web.default.svc.cluster.local', 'A'))!;
    assert.equal(sent.length, 48);
    // Each dig has its own source port; the kernel spreads them over the two workers' sockets.
    for (let i = 0; i < 10; i++) {
      const output = await dig(server, '+nobadcookie', `+cookie=${sent}`, 'web.default.svc.cluster.local', 'A');
      assert.equal(status(output), 'NOERROR', output);
    }
  });
});
