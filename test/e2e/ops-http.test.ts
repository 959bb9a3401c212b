/**
 * The ops HTTP port as any pod reaches it: request lines written by hand (Node's HTTP client
 * would normalise the odd targets away).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startLbdns } from '../helpers/lbdns-process.ts';
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
        [server.opsPort, '/debug/balance?name=%zz', 400],
        [server.opsPort, '/debug/balance?name=a.b.svc.cluster.local&client=not-an-ip', 404],
        [server.opsPort, `/debug/balance?name=${'a.'.repeat(4000)}svc.cluster.local`, 400],
        [server.opsPort, `http://x${BALANCE}`, 200],
      ];
      for (const [port, target, expected] of cases) {
        assert.equal(await rawStatus(port, `GET ${target} HTTP/1.1`), expected, `GET ${target.slice(0, 40)}`);
      }
      assert.equal(await status(server.opsPort, '/health'), 200);
      assert.equal(await status(server.opsPort, BALANCE), 200);
      assert.deepEqual(answerData(await query(server.port, 'web.default.svc.cluster.local', 'A'), 'A'), ['10.96.0.20']);
      assert.equal(server.process.exitCode, null);
    } finally {
      await server.stop();
    }
  });
});
