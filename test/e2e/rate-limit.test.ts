/**
 * Response rate limiting as a pod network needs it: a flooding pod must not take its node
 * neighbours' budget, and a limited query must cost no answer and no upstream query.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { buildQuery, udpExchange } from '../helpers/dns-client.ts';
import { StubUpstream, reply } from '../helpers/stub-upstream.ts';

const TC = 0x0200;

describe('response rate limiting in a pod network', () => {
  it('gives every pod address its own budget by default: a neighbour in the same /24 is not limited by a flooder', async () => {
    const server = await startLbdns({ config: tempFile('lbdns.yaml', 'rateLimit:\n  responsesPerSecond: 5\n  slip: 2\n  clusterZones: true\n') });
    try {
      const request = buildQuery('web.default.svc.cluster.local', 'A');
      // The flooder spends its budget (and more) first …
      let flooderHeldBack = 0;
      for (let i = 0; i < 30; i++) {
        const answer = await udpExchange(server.port, request, 150, '127.0.0.1', '127.0.0.10');
        if (answer === null || answer.readUInt16BE(2) & TC) flooderHeldBack++;
      }
      assert.ok(flooderHeldBack >= 10, `the flooder itself is limited (${flooderHeldBack} of 30 held back)`);
      // … then its neighbour on the same node, same /24, asks a few times within its own budget.
      for (let i = 0; i < 4; i++) {
        const answer = await udpExchange(server.port, request, 1000, '127.0.0.1', '127.0.0.11');
        assert.ok(answer !== null && !(answer.readUInt16BE(2) & TC), `neighbour's answer ${i + 1} is whole`);
      }
    } finally {
      await server.stop();
    }
  });

  it('decides before the work: a limited forwarded query never reaches the upstream', async () => {
    // TTL 0: nothing is cached, so every query that is not held back goes upstream.
    const upstream = await StubUpstream.start((query) => [{ bytes: reply(query, { answers: [{ type: 'A', name: query.questions![0]!.name, ttl: 0, data: '192.0.2.1' }] }) }]);
    const server = await startLbdns({ upstream: `127.0.0.1:${upstream.port}`, config: tempFile('lbdns.yaml', 'rateLimit:\n  responsesPerSecond: 2\n  slip: 0\n') });
    try {
      const request = buildQuery('flood.example.test', 'A');
      for (let i = 0; i < 20; i++) await udpExchange(server.port, request, 150, '127.0.0.1', '127.0.0.20');
      const metrics = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
      const dropped = Number(/^lbdns_rate_limited_responses_total\{action="dropped"\} (\d+)$/m.exec(metrics)?.[1]);
      assert.ok(dropped > 0, `some queries are held back (${dropped} of 20)`);
      assert.equal(upstream.count('flood.example.test'), 20 - dropped, 'only the queries let through were forwarded');
    } finally {
      await server.stop();
      await upstream.close();
    }
  });
});
