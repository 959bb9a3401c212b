/**
 * Forwarding names outside the served zones, against a real upstream (knot from Debian) and
 * scripted loopback upstreams that count queries, answer late, never, or with spoofed packets.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { answerData, buildQuery, decode, query, rcodeOf, tcpExchange, udpExchange } from '../helpers/dns-client.ts';
import { StubUpstream, reply } from '../helpers/stub-upstream.ts';
import { haveKnot, startKnot, type Knot } from '../helpers/knot.ts';
import { asList, clusterIpService, namespaceObject } from '../helpers/objects.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An upstream answering A queries with `address` (TTL `ttl`) and everything else NXDOMAIN. */
function answering(address: string, ttl = 0): Promise<StubUpstream> {
  return StubUpstream.start((q) => {
    const question = q.questions![0]!;
    if (question.type !== 'A') return [{ bytes: reply(q, { rcode: 'NXDOMAIN' }) }];
    return [{ bytes: reply(q, { answers: [{ type: 'A', name: question.name, ttl, data: address }] }) }];
  });
}

async function lbdnsWith(settingsYaml: string, upstream: string | null): Promise<RunningServer> {
  return startLbdns({ config: tempFile('lbdns.yaml', settingsYaml), upstream });
}

const first = async (port: number, name: string) => String(answerData(await query(port, name, 'A', { timeoutMs: 3000 }), 'A')[0]);

describe('a real upstream (knot)', { skip: haveKnot() || process.env.CI ? false : 'knot is not installed (apt-get install knot)' }, () => {
  let knot: Knot;
  let server: RunningServer;
  before(async () => {
    const big = Array.from({ length: 40 }, (_, i) => `big 300 IN TXT "${String(i).padStart(2, '0')}${'x'.repeat(98)}"`).join('\n');
    knot = await startKnot({
      'example.test': `$ORIGIN example.test.\n@ 300 IN SOA ns.example.test. admin.example.test. 1 7200 1800 86400 60\n@ 300 IN NS ns.example.test.\nns 300 IN A 192.0.2.53\nwww 300 IN A 192.0.2.10\nwww 300 IN A 192.0.2.11\n${big}\n`,
    });
    server = await lbdnsWith('forward:\n  timeoutMs: 1000\n', `127.0.0.1:${knot.port}`);
  });
  after(async () => {
    await server.stop();
    await knot.stop();
  });

  it('relays answers faithfully: rcode, records, authority, flags', async () => {
    const reply1 = await query(server.port, 'www.example.test', 'A');
    assert.equal(rcodeOf(reply1), 'NOERROR');
    assert.deepEqual((answerData(reply1, 'A') as string[]).sort(), ['192.0.2.10', '192.0.2.11']);
    assert.ok(reply1.flag_aa, 'the upstream’s AA flag is kept');
    const missing = await query(server.port, 'nope.example.test', 'A');
    assert.equal(rcodeOf(missing), 'NXDOMAIN');
    assert.equal(missing.authorities?.[0]?.type, 'SOA');
  });

  it('asks again over TCP when the upstream truncates, and gives a TCP client the whole answer', async () => {
    const reply1 = await query(server.port, 'big.example.test', 'TXT', { udpSize: 4096 });
    assert.ok(reply1.flag_tc, 'too big for lbdns’s 1232-byte UDP: TC to the client');
    const [raw] = await tcpExchange(server.port, [buildQuery('big.example.test', 'TXT')]);
    assert.equal(decode(raw!).answers?.length, 40);
  });
});

describe('upstream policies and failover', () => {
  let a: StubUpstream;
  let b: StubUpstream;
  before(async () => {
    a = await answering('192.0.2.1');
    b = await answering('192.0.2.2');
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  for (const [policy, check] of [
    ['sequential', (counts: Record<string, number>) => assert.deepEqual(counts, { '192.0.2.1': 20 })],
    ['round_robin', (counts: Record<string, number>) => assert.deepEqual(counts, { '192.0.2.1': 10, '192.0.2.2': 10 })],
    ['random', (counts: Record<string, number>) => assert.ok((counts['192.0.2.1'] ?? 0) > 2 && (counts['192.0.2.2'] ?? 0) > 2, JSON.stringify(counts))],
  ] as const) {
    it(`forwards with policy ${policy}`, async () => {
      const server = await lbdnsWith(`forward:\n  policy: ${policy}\n  upstreams: ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]\n`, null);
      try {
        const counts: Record<string, number> = {};
        for (let i = 0; i < 20; i++) {
          const answer = await first(server.port, `n${i}.${policy}.example`);
          counts[answer] = (counts[answer] ?? 0) + 1;
        }
        check(counts);
      } finally {
        await server.stop();
      }
    });
  }

  it('fails over to the next upstream when one does not answer, then stops trying the dead one first', async () => {
    const server = await lbdnsWith(`forward:\n  policy: sequential\n  timeoutMs: 300\n  upstreams: ["127.0.0.1:9", "127.0.0.1:${b.port}"]\n`, null);
    try {
      const started = performance.now();
      assert.equal(await first(server.port, 'one.failover.example'), '192.0.2.2');
      assert.ok(performance.now() - started >= 250, 'waited for the dead upstream once');
      await first(server.port, 'two.failover.example');
      const later = performance.now();
      assert.equal(await first(server.port, 'three.failover.example'), '192.0.2.2');
      assert.ok(performance.now() - later < 250, 'after two failures the dead upstream is held down');
    } finally {
      await server.stop();
    }
  });
});

describe('the cache', () => {
  it('answers repeats from the cache with TTLs counting down, and caches NXDOMAIN for the SOA minimum', async () => {
    const upstream = await StubUpstream.start((q) => {
      const question = q.questions![0]!;
      if (question.name.startsWith('missing')) {
        return [{ bytes: reply(q, { rcode: 'NXDOMAIN', authorities: [{ type: 'SOA', name: 'example', ttl: 300, data: { mname: 'ns.example', rname: 'admin.example', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 } }] }) }];
      }
      return [{ bytes: reply(q, { answers: [{ type: 'A', name: question.name, ttl: 60, data: '192.0.2.7' }] }) }];
    });
    const server = await lbdnsWith('{}\n', `127.0.0.1:${upstream.port}`);
    try {
      const firstReply = await query(server.port, 'cached.example', 'A');
      assert.equal(firstReply.answers?.[0]?.ttl, 60);
      for (let i = 0; i < 5; i++) await query(server.port, 'CACHED.example', 'A');
      assert.equal(upstream.count('cached.example'), 1, 'the upstream saw one query');
      await sleep(2100);
      const later = await query(server.port, 'Cached.Example', 'A');
      assert.equal(later.questions?.[0]?.name, 'Cached.Example', 'the client’s own letter case');
      assert.ok(later.answers![0]!.ttl! <= 58, `TTL counted down to ${later.answers![0]!.ttl}`);

      assert.equal(rcodeOf(await query(server.port, 'missing.example', 'A')), 'NXDOMAIN');
      const negative = await query(server.port, 'missing.example', 'A');
      assert.equal(rcodeOf(negative), 'NXDOMAIN');
      assert.equal(upstream.count('missing.example'), 1, 'the negative answer was cached');
      const metrics = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
      assert.match(metrics, new RegExp(`^lbdns_forward_requests_total\\{to="127.0.0.1:${upstream.port}"\\} 2$`, 'm'));
      assert.match(metrics, new RegExp(`^lbdns_forward_request_duration_seconds_total\\{to="127.0.0.1:${upstream.port}"\\} [0-9.e-]+$`, 'm'));
      assert.match(metrics, /^lbdns_cache_hits_total [1-9]/m);
    } finally {
      await server.stop();
      await upstream.close();
    }
  });

  it('serves an expired answer when every upstream fails, with a short TTL', async () => {
    let alive = true;
    const upstream = await StubUpstream.start((q) => (alive ? [{ bytes: reply(q, { answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 1, data: '192.0.2.8' }] }) }] : []));
    const server = await lbdnsWith('forward:\n  timeoutMs: 300\n', `127.0.0.1:${upstream.port}`);
    try {
      assert.equal(await first(server.port, 'stale.example'), '192.0.2.8');
      alive = false;
      await sleep(1500);
      const stale = await query(server.port, 'stale.example', 'A', { timeoutMs: 3000 });
      assert.deepEqual(answerData(stale, 'A'), ['192.0.2.8']);
      assert.ok(stale.answers![0]!.ttl! <= 30);
      const again = performance.now();
      await query(server.port, 'stale.example', 'A');
      assert.ok(performance.now() - again < 250, 'once the upstream is known to fail, stale answers come at once');
    } finally {
      await server.stop();
      await upstream.close();
    }
  });

  it('refreshes a popular entry before it expires (prefetch)', async () => {
    const upstream = await answering('192.0.2.9', 2);
    const server = await lbdnsWith('cache:\n  prefetch:\n    hits: 2\n    percent: 50\n', `127.0.0.1:${upstream.port}`);
    try {
      for (let i = 0; i < 3; i++) await query(server.port, 'popular.example', 'A');
      await sleep(1200);
      await query(server.port, 'popular.example', 'A');
      await sleep(100);
      assert.equal(upstream.count('popular.example'), 2, 'refreshed while the cached copy was still fresh');
    } finally {
      await server.stop();
      await upstream.close();
    }
  });
});

describe('upstream queries', () => {
  it('makes one upstream query for 100 concurrent identical misses', async () => {
    const upstream = await StubUpstream.start((q) => [{ bytes: reply(q, { answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 30, data: '192.0.2.20' }] }), delayMs: 300 }]);
    const server = await lbdnsWith('{}\n', `127.0.0.1:${upstream.port}`);
    try {
      const replies = await Promise.all(Array.from({ length: 100 }, () => query(server.port, 'together.example', 'A', { timeoutMs: 3000 })));
      assert.ok(replies.every((r) => answerData(r, 'A')[0] === '192.0.2.20'));
      assert.equal(upstream.count('together.example'), 1);
    } finally {
      await server.stop();
      await upstream.close();
    }
  });

  it('answers REFUSED beyond forward.maxConcurrent instead of queueing without bound', async () => {
    const upstream = await StubUpstream.start(() => []);
    const server = await lbdnsWith('forward:\n  maxConcurrent: 5\n  timeoutMs: 1000\n', `127.0.0.1:${upstream.port}`);
    try {
      const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => query(server.port, `slow${i}.example`, 'A', { timeoutMs: 3000 })));
      const rcodes = replies.map(rcodeOf).sort();
      assert.deepEqual(rcodes, ['REFUSED', 'REFUSED', 'REFUSED', 'SERVFAIL', 'SERVFAIL', 'SERVFAIL', 'SERVFAIL', 'SERVFAIL']);
    } finally {
      await server.stop();
      await upstream.close();
    }
  });

  it('ignores spoofed answers (wrong ID, wrong question) and takes the real one', async () => {
    const upstream = await StubUpstream.start((q) => {
      const name = q.questions![0]!.name;
      const spoofedId = reply({ ...q, id: ((q.id ?? 0) + 1) & 0xffff }, { answers: [{ type: 'A', name, ttl: 60, data: '6.6.6.6' }] });
      const spoofedQuestion = reply({ ...q, questions: [{ name: 'evil.example', type: 'A', class: 'IN' }] }, { answers: [{ type: 'A', name: 'evil.example', ttl: 60, data: '6.6.6.7' }] });
      const real = reply(q, { answers: [{ type: 'A', name, ttl: 60, data: '192.0.2.30' }] });
      return name === 'only-spoofed.example' ? [{ bytes: spoofedId }, { bytes: spoofedQuestion }] : [{ bytes: spoofedId }, { bytes: spoofedQuestion }, { bytes: real, delayMs: 100 }];
    });
    const server = await lbdnsWith('forward:\n  timeoutMs: 400\n', `127.0.0.1:${upstream.port}`);
    try {
      assert.deepEqual(answerData(await query(server.port, 'target.example', 'A'), 'A'), ['192.0.2.30']);
      assert.equal(rcodeOf(await query(server.port, 'only-spoofed.example', 'A', { timeoutMs: 3000 })), 'SERVFAIL');
      const sent = upstream.queries.filter((q) => q.name === 'target.example' || q.name === 'only-spoofed.example');
      assert.equal(new Set(sent.map((q) => q.id)).size, sent.length, 'a fresh random ID per upstream query');
    } finally {
      await server.stop();
      await upstream.close();
    }
  });

  it('asks again over TCP when the upstream sets TC', async () => {
    const upstream = await StubUpstream.start((q, transport) => {
      const name = q.questions![0]!.name;
      if (transport === 'udp') {
        const truncated = reply(q, {});
        truncated.writeUInt16BE(truncated.readUInt16BE(2) | 0x0200, 2);
        return [{ bytes: truncated }];
      }
      return [{ bytes: reply(q, { answers: [{ type: 'A', name, ttl: 60, data: '192.0.2.40' }] }) }];
    });
    const server = await lbdnsWith('{}\n', `127.0.0.1:${upstream.port}`);
    try {
      assert.deepEqual(answerData(await query(server.port, 'tc.example', 'A'), 'A'), ['192.0.2.40']);
      assert.deepEqual(upstream.queries.map((q) => q.transport), ['udp', 'tcp']);
    } finally {
      await server.stop();
      await upstream.close();
    }
  });
});

describe('routing and access', () => {
  it('sends stub domains to their own upstreams, the longest suffix winning', async () => {
    const general = await answering('192.0.2.50');
    const corp = await answering('192.0.2.51');
    const lab = await answering('192.0.2.52');
    const server = await lbdnsWith(`forward:\n  stubDomains:\n    corp.test: ["127.0.0.1:${corp.port}"]\n    lab.corp.test: ["127.0.0.1:${lab.port}"]\n`, `127.0.0.1:${general.port}`);
    try {
      assert.equal(await first(server.port, 'www.example.org'), '192.0.2.50');
      assert.equal(await first(server.port, 'intranet.corp.test'), '192.0.2.51');
      assert.equal(await first(server.port, 'gpu.lab.corp.test'), '192.0.2.52');
    } finally {
      await server.stop();
      await Promise.all([general.close(), corp.close(), lab.close()]);
    }
  });

  it('refuses recursion to clients outside forward.allowedClients, and still answers them for the cluster', async () => {
    const upstream = await answering('192.0.2.60');
    const server = await lbdnsWith('forward:\n  allowedClients: [10.0.0.0/8]\n', `127.0.0.1:${upstream.port}`);
    try {
      assert.equal(rcodeOf(await query(server.port, 'www.example.org', 'A')), 'REFUSED');
      assert.equal(upstream.count(), 0);
      assert.deepEqual(answerData(await query(server.port, 'web.default.svc.cluster.local', 'A'), 'A'), ['10.96.0.20']);
    } finally {
      await server.stop();
      await upstream.close();
    }
  });

  it('keeps an EDNS client’s OPT and gives a client without EDNS none', async () => {
    const upstream = await StubUpstream.start((q) => [
      { bytes: reply(q, { answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 60, data: '192.0.2.70' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as unknown as dnsPacket.Answer] }) },
    ]);
    const server = await lbdnsWith('{}\n', `127.0.0.1:${upstream.port}`);
    try {
      const plain = decode((await udpExchange(server.port, buildQuery('edns.example', 'A')))!);
      assert.equal(plain.additionals?.length ?? 0, 0);
      const withEdns = await query(server.port, 'edns.example', 'A', { udpSize: 1232 });
      assert.equal((withEdns.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined)?.udpPayloadSize, 1232);
    } finally {
      await server.stop();
      await upstream.close();
    }
  });
});

describe('autopath (search-path relief)', () => {
  const objects = () =>
    asList([
      namespaceObject('default'),
      namespaceObject('shop'),
      clusterIpService('default', 'web', '10.96.0.20'),
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client', namespace: 'shop' }, status: { podIP: '127.0.0.77', podIPs: [{ ip: '127.0.0.77' }] } },
    ]);

  it('answers the first search-path query with a CNAME to the name that resolves, in the cluster or upstream', async () => {
    const upstream = await answering('192.0.2.80', 30);
    const server = await startLbdns({ objects: tempFile('objects.yaml', objects()), config: tempFile('lbdns.yaml', 'pods: verified\nautopath: true\n'), upstream: `127.0.0.1:${upstream.port}` });
    try {
      const inCluster = await query(server.port, 'web.default.shop.svc.cluster.local', 'A', { from: '127.0.0.77' });
      assert.equal(rcodeOf(inCluster), 'NOERROR');
      assert.deepEqual(
        inCluster.answers?.map((a) => [a.type, a.name, a.data]),
        [
          ['CNAME', 'web.default.shop.svc.cluster.local', 'web.default.svc.cluster.local'],
          ['A', 'web.default.svc.cluster.local', '10.96.0.20'],
        ],
      );
      const outside = await query(server.port, 'api.github.com.shop.svc.cluster.local', 'A', { from: '127.0.0.77' });
      assert.deepEqual(
        outside.answers?.map((a) => [a.type, a.name, a.data]),
        [
          ['CNAME', 'api.github.com.shop.svc.cluster.local', 'api.github.com'],
          ['A', 'api.github.com', '192.0.2.80'],
        ],
      );
      assert.equal(upstream.count('api.github.com'), 1, 'the search-path names themselves never went upstream');
      assert.equal(rcodeOf(await query(server.port, 'api.github.com.shop.svc.cluster.local', 'A')), 'NXDOMAIN', 'a client that is no known pod gets the plain answer');
    } finally {
      await server.stop();
      await upstream.close();
    }
  });

  it('is rejected without pods: verified, naming the key', async () => {
    const server = await startLbdns({ config: tempFile('lbdns.yaml', 'autopath: true\n'), waitUntilServing: false });
    const code = await new Promise<number | null>((resolve) => server.process.once('exit', resolve));
    assert.equal(code, 2);
    assert.match(server.stderr(), /autopath: needs pods: verified/);
  });
});

describe('ExternalName targets outside the cluster', () => {
  it('completes the CNAME with the target’s records from upstream, as CoreDNS does', async () => {
    const upstream = await answering('192.0.2.90', 60);
    const server = await startLbdns({ upstream: `127.0.0.1:${upstream.port}` });
    try {
      const reply1 = await query(server.port, 'payments.shop.svc.cluster.local', 'A');
      assert.deepEqual(
        reply1.answers?.map((a) => [a.type, a.name, a.data]),
        [
          ['CNAME', 'payments.shop.svc.cluster.local', 'payments.example.com'],
          ['A', 'payments.example.com', '192.0.2.90'],
        ],
      );
      await query(server.port, 'payments.shop.svc.cluster.local', 'A');
      assert.equal(upstream.count('payments.example.com'), 1, 'the target’s answer is cached');
    } finally {
      await server.stop();
      await upstream.close();
    }
  });
});
