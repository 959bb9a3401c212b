/** The ops HTTP handler: request targets split without throwing, and a failing route kept inside. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { listenHttp, opsRoutes, parseRequestTarget } from '../../src/ops/http-server.ts';
import { Metrics } from '../../src/ops/metrics.ts';
import { parseSettings } from '../../src/settings/schema.ts';

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

describe('parseRequestTarget', () => {
  it('splits origin-form and absolute-form targets into path and query', () => {
    const split = (target: string) => {
      const parsed = parseRequestTarget(target);
      return parsed && [parsed.pathname, Object.fromEntries(parsed.searchParams)];
    };
    assert.deepEqual(split('/health'), ['/health', {}]);
    assert.deepEqual(split('/debug/balance?name=a.b.svc.cluster.local&client=fd00::1'), ['/debug/balance', { name: 'a.b.svc.cluster.local', client: 'fd00::1' }]);
    assert.deepEqual(split('/x?a=%41?b#frag'), ['/x', { a: 'A?b' }]);
    assert.deepEqual(split('http://ops:8080/metrics?x=1'), ['/metrics', { x: '1' }]);
    assert.deepEqual(split('//health'), ['//health', {}]);
  });

  it('gives null, never an exception, for a malformed target', () => {
    for (const target of ['//[', '/[', '/a]', 'http://[::1', 'http://[::1/x', '/%zz', '/%', '/ok?q=%z', '%zz', '*', '', 'health', 'http:', `/${'%'.repeat(10_000)}`]) {
      assert.equal(parseRequestTarget(target), null, target);
    }
  });
});

describe('listenHttp', () => {
  it('answers 500 and logs when a route throws or a scrape fails, and keeps serving', async () => {
    const { log, lines } = capturingLogger();
    const metrics = new Metrics({ settings: () => parseSettings({}, 'test'), viewCounts: () => ({}), serving: () => [], beforeScrape: () => Promise.reject(new Error('collect failed')) });
    const throwing = (_request: unknown, target: { pathname: string }) => {
      if (target.pathname !== '/boom') return false;
      throw new Error('route bug');
    };
    const server = await listenHttp({ host: '127.0.0.1', port: 0, family: 'udp4' }, [...opsRoutes({ ready: () => true }, metrics, log), throwing], log);
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      assert.equal((await fetch(`${base}/boom`)).status, 500);
      assert.equal((await fetch(`${base}/metrics`)).status, 500);
      assert.equal((await fetch(`${base}/health`)).status, 200);
      assert.deepEqual(
        lines.filter((l) => l.msg === 'ops request failed').map((l) => [l.path, l.err]),
        [
          ['/boom', 'route bug'],
          ['/metrics', 'collect failed'],
        ],
      );
    } finally {
      server.close();
    }
  });
});
