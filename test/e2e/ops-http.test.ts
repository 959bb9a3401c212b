/**
 * The ops and debug HTTP ports as any pod reaches them: request lines written by hand (Node's
 * HTTP client would normalise the odd targets away), and where each route is served.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { freePort, startLbdns } from '../helpers/lbdns-process.ts';
import { answerData, query } from '../helpers/dns-client.ts';

/** Sends one request line as written and returns the response's status code (0: none came). */
function rawStatus(port: number, requestLine: string, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host }, () => socket.write(`${requestLine}\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1'));
    let text = '';
    socket.setEncoding('latin1');
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no response to ${requestLine.slice(0, 40)}`)));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve(0) : reject(error)));
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0)));
  });
}

const status = async (port: number, path: string, host = '127.0.0.1') => (await fetch(`http://${host}:${port}${path}`)).status;

const BALANCE = '/debug/balance?name=checkout.shop.svc.cluster.local';

describe('request targets a pod may send', () => {
  it('answers 400 to a malformed one, never dies of it, and keeps serving HTTP and DNS', async () => {
    const server = await startLbdns();
    try {
      const cases: Array<[port: number, target: string, status: number]> = [
        [server.opsPort, '//[', 400],
        [server.opsPort, 'http://[::1', 400],
        [server.opsPort, '/%zz', 400],
        [server.opsPort, '%zz', 400],
        [server.opsPort, '*', 400],
        [server.opsPort, '//health', 404],
        [server.opsPort, `/${'a'.repeat(10_000)}`, 404],
        [server.opsPort, 'http://[::1]/health', 200],
        [server.opsPort, '/health?x=%41#frag', 200],
        [server.debugPort, '//[', 400],
        [server.debugPort, 'http://[::1', 400],
        [server.debugPort, '/debug/balance?name=%zz', 400],
        [server.debugPort, '/debug/balance?name=a.b.svc.cluster.local&client=not-an-ip', 404],
        [server.debugPort, `/debug/balance?name=${'a.'.repeat(4000)}svc.cluster.local`, 400],
        [server.debugPort, `http://x${BALANCE}`, 200],
      ];
      for (const [port, target, expected] of cases) {
        assert.equal(await rawStatus(port, `GET ${target} HTTP/1.1`), expected, `GET ${target.slice(0, 40)} on ${port === server.opsPort ? 'ops' : 'debug'}`);
      }
      assert.equal(await status(server.opsPort, '/health'), 200);
      assert.equal(await status(server.debugPort, BALANCE), 200);
      assert.deepEqual(answerData(await query(server.port, 'web.default.svc.cluster.local', 'A'), 'A'), ['10.96.0.20']);
      assert.equal(server.process.exitCode, null);
    } finally {
      await server.stop();
    }
  });
});

describe('the debug routes', () => {
  it('are not served on the ops address, which keeps /health, /ready and /metrics on every address', async () => {
    const opsPort = await freePort();
    // As the shipped manifests run it: the ops port on every address, for probes and Prometheus.
    const server = await startLbdns({ args: ['--ops-listen', `0.0.0.0:${opsPort}`] });
    try {
      for (const host of ['127.0.0.1', '127.0.0.2']) {
        assert.equal(await status(opsPort, BALANCE, host), 404, `ops port via ${host}`);
        assert.equal(await status(opsPort, '/health', host), 200);
        assert.equal(await status(opsPort, '/ready', host), 200);
        assert.equal(await status(opsPort, '/metrics', host), 200);
      }
      assert.equal(await status(server.debugPort, BALANCE), 200);
      // The debug listener is bound to 127.0.0.1 alone: no other address reaches it.
      await assert.rejects(fetch(`http://127.0.0.2:${server.debugPort}${BALANCE}`), (error: Error & { cause?: { code?: string } }) => error.cause?.code === 'ECONNREFUSED');
    } finally {
      await server.stop();
    }
  });

  it('listen on loopback unless an operator says otherwise', async () => {
    const { parseSettings } = await import('../../src/settings/schema.ts');
    assert.equal(parseSettings({}).ops.debugListen, '127.0.0.1:8081');
    assert.equal(parseSettings({ ops: { listen: '0.0.0.0:8080' } }).ops.debugListen, '127.0.0.1:8081');
  });

  it('share the ops listener when ops.debugListen is the ops address', async () => {
    const opsPort = await freePort();
    const server = await startLbdns({ args: ['--ops-listen', `127.0.0.1:${opsPort}`, '--debug-listen', `127.0.0.1:${opsPort}`] });
    try {
      assert.equal(await status(opsPort, BALANCE), 200);
      assert.equal(await status(opsPort, '/health'), 200);
    } finally {
      await server.stop();
    }
  });

  it('are given up, with an error logged, when their address is taken: DNS and the ops port still serve', async () => {
    const taken = createServer();
    const takenPort = await freePort();
    await new Promise<void>((resolve) => taken.listen(takenPort, '127.0.0.1', resolve));
    const server = await startLbdns({ args: ['--debug-listen', `127.0.0.1:${takenPort}`] });
    try {
      const line = await server.waitForLog((l) => l.msg === 'cannot serve /debug/balance; serving on without it');
      assert.match(String(line.err), /EADDRINUSE/);
      assert.equal(await status(server.opsPort, '/ready'), 200);
      assert.deepEqual(answerData(await query(server.port, 'web.default.svc.cluster.local', 'A'), 'A'), ['10.96.0.20']);
    } finally {
      await server.stop();
      taken.close();
    }
  });
});
