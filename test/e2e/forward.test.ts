/**
 * Forwarding names outside the served zones, against a real upstream (knot from Debian) and
 * scripted loopback upstreams that count queries, answer late, never, or with spoofed packets.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { answerData, buildQuery, decode, query, rcodeOf, tcpExchange, udpExchange } from '../helpers/dns-client.ts';
import { StubUpstream, refusing, reply } from '../helpers/stub-upstream.ts';
import { within } from '../helpers/wait.ts';
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

/** An SOA for `zone` with TTL and minimum `ttl`. */
const soa = (zone: string, ttl = 60): dnsPacket.Answer => ({ type: 'SOA', name: zone, ttl, data: { mname: `ns.${zone}`, rname: `admin.${zone}`, serial: 1, refresh: 1, retry: 1, expire: 1, minimum: ttl } });
const rows = (records: Array<{ type: string; name: string; data?: unknown }> | undefined) => (records ?? []).filter((r) => r.type !== 'OPT').map((r) => [r.type, r.name, r.data]);

describe('what upstream answers may carry to clients', () => {
  it('keeps only the answer’s own records: the name, its CNAME chain, its zone, glue for its targets', async () => {
    const evilAuthority: dnsPacket.Answer[] = [{ type: 'NS', name: '.', ttl: 60, data: 'ns.evil.test' }];
    const evilAdditional: dnsPacket.Answer[] = [
      { type: 'A', name: 'ns.evil.test', ttl: 60, data: '6.6.6.7' },
      { type: 'A', name: 'kubernetes.default.svc.cluster.local', ttl: 60, data: '6.6.6.8' },
    ];
    const stub = await StubUpstream.start((q) => {
      const { name, type } = q.questions![0]!;
      const www: dnsPacket.Answer = { type: 'A', name: 'www.example.test', ttl: 60, data: '192.0.2.1' };
      const planted: dnsPacket.Answer[] = [
        { type: 'A', name: 'kubernetes.default.svc.cluster.local', ttl: 60, data: '6.6.6.6' },
        { type: 'A', name: 'other.example.test', ttl: 60, data: '6.6.6.5' },
      ];
      if (name === 'www.example.test') return [{ bytes: reply(q, { answers: [www, ...planted], authorities: evilAuthority, additionals: evilAdditional }) }];
      if (name === 'alias.example.test') {
        return [{ bytes: reply(q, { answers: [{ type: 'CNAME', name, ttl: 60, data: 'www.example.test' }, ...planted, www], authorities: evilAuthority, additionals: evilAdditional }) }];
      }
      if (name === 'into-cluster.example.test') {
        return [{ bytes: reply(q, { answers: [{ type: 'CNAME', name, ttl: 60, data: 'kubernetes.default.svc.cluster.local' }, planted[0]!] }) }];
      }
      if (name === 'mail.example.test' && type === 'MX') {
        return [{ bytes: reply(q, { answers: [{ type: 'MX', name, ttl: 60, data: { preference: 10, exchange: 'mx.example.test' } }], authorities: evilAuthority, additionals: [{ type: 'A', name: 'mx.example.test', ttl: 60, data: '192.0.2.25' }, ...evilAdditional] }) }];
      }
      return [{ bytes: reply(q, { rcode: 'NXDOMAIN', authorities: [...evilAuthority, soa('example.test')], additionals: evilAdditional }) }];
    });
    const server = await lbdnsWith(`forward:\n  stubDomains:\n    example.test: ["127.0.0.1:${stub.port}"]\n`, null);
    try {
      const direct = await query(server.port, 'www.example.test', 'A', { udpSize: 1232 });
      assert.deepEqual(rows(direct.answers), [['A', 'www.example.test', '192.0.2.1']]);
      assert.deepEqual(rows(direct.authorities), [], 'no NS for the root from a stub domain’s upstream');
      assert.deepEqual(rows(direct.additionals), []);

      const chained = await query(server.port, 'alias.example.test', 'A');
      assert.deepEqual(rows(chained.answers), [
        ['CNAME', 'alias.example.test', 'www.example.test'],
        ['A', 'www.example.test', '192.0.2.1'],
      ]);

      const intoCluster = await query(server.port, 'into-cluster.example.test', 'A');
      assert.deepEqual(rows(intoCluster.answers), [['CNAME', 'into-cluster.example.test', 'kubernetes.default.svc.cluster.local']], 'never an upstream’s record for a cluster name');

      const mail = await query(server.port, 'mail.example.test', 'MX');
      assert.deepEqual(rows(mail.answers), [['MX', 'mail.example.test', { preference: 10, exchange: 'mx.example.test' }]]);
      assert.deepEqual(rows(mail.additionals), [['A', 'mx.example.test', '192.0.2.25']], 'glue for the exchange, and nothing else');

      const missing = await query(server.port, 'missing.example.test', 'A');
      assert.equal(rcodeOf(missing), 'NXDOMAIN');
      assert.deepEqual((missing.authorities ?? []).map((r) => [r.type, r.name]), [['SOA', 'example.test']]);
      assert.deepEqual(rows(missing.additionals), []);
    } finally {
      await server.stop();
      await stub.close();
    }
  });

  it('caps every relayed TTL at cache.maxTtl, reading a TTL with the top bit set as 0 (RFC 2181 §8)', async () => {
    const ttls: Record<string, number> = { 'all-ones.ttl.test': 0xffffffff, 'top-bit.ttl.test': 0x80000001, 'long.ttl.test': 0x7fffffff };
    const stub = await StubUpstream.start((q) => {
      const name = q.questions![0]!.name;
      return [{ bytes: reply(q, { answers: [{ type: 'A', name, ttl: ttls[name] ?? 60, data: '192.0.2.3' }], authorities: [{ type: 'NS', name: 'ttl.test', ttl: 0xffffffff, data: 'ns.ttl.test' }] }) }];
    });
    const server = await lbdnsWith('cache:\n  maxTtl: 300\n', `127.0.0.1:${stub.port}`);
    try {
      const ttlOf = async (name: string) => (await query(server.port, name, 'A', { udpSize: 1232 })).answers![0]!.ttl;
      assert.equal(await ttlOf('all-ones.ttl.test'), 0);
      assert.equal(await ttlOf('top-bit.ttl.test'), 0);
      assert.equal(await ttlOf('long.ttl.test'), 300);
      assert.ok((await ttlOf('long.ttl.test'))! <= 300, 'from the cache too');
      assert.equal(stub.count('long.ttl.test'), 1);
    } finally {
      await server.stop();
      await stub.close();
    }
  });

  it('rebuilds an answer whose question is compressed, so every name in it still reads right', async () => {
    // Question "foo.test" written as the labels foo, test and a pointer to a zero byte in the
    // header (offset 4); the answer's owner points at the question, its CNAME target at it too.
    const stub = await StubUpstream.start((q) => {
      const head = Buffer.alloc(12);
      head.writeUInt16BE(q.id ?? 0, 0);
      head.writeUInt16BE(0x8180, 2);
      head.writeUInt16BE(1, 4);
      head.writeUInt16BE(2, 6);
      const questionName = Buffer.from([3, ...Buffer.from('foo'), 4, ...Buffer.from('test'), 0xc0, 4]);
      const record = (type: number, rdata: Buffer) => {
        const fixed = Buffer.alloc(10);
        fixed.writeUInt16BE(type, 0);
        fixed.writeUInt16BE(1, 2);
        fixed.writeUInt32BE(60, 4);
        fixed.writeUInt16BE(rdata.length, 8);
        return Buffer.concat([Buffer.from([0xc0, 12]), fixed, rdata]);
      };
      // www.<pointer to "test" at 16>: a target that shares the question's suffix.
      const cname = record(5, Buffer.from([3, ...Buffer.from('www'), 0xc0, 16]));
      const aOwner = Buffer.from([3, ...Buffer.from('www'), 0xc0, 16]);
      const a = Buffer.concat([aOwner, Buffer.from([0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 11])]);
      return [{ bytes: Buffer.concat([head, questionName, Buffer.from([0, 1, 0, 1]), cname, a]) }];
    });
    const server = await lbdnsWith('{}\n', `127.0.0.1:${stub.port}`);
    try {
      for (const asked of ['foo.test', 'FOO.Test']) {
        const raw = await udpExchange(server.port, buildQuery(asked, 'A'));
        assert.ok(raw, 'an answer');
        const answer = decode(raw);
        assert.equal(answer.questions?.[0]?.name, asked);
        assert.deepEqual(
          answer.answers?.map((r) => [r.type, r.name.toLowerCase(), typeof r.data === 'string' ? r.data.toLowerCase() : r.data]),
          [
            ['CNAME', 'foo.test', 'www.test'],
            ['A', 'www.test', '192.0.2.11'],
          ],
        );
      }
    } finally {
      await server.stop();
      await stub.close();
    }
  });

  it('caches by class: a class ANY answer is never served to a class IN query', async () => {
    const stub = await StubUpstream.start((q) => {
      const question = q.questions![0]!;
      if (question.class === 'ANY') return [{ bytes: reply(q, { rcode: 'NXDOMAIN', authorities: [soa('class.test', 600)] }) }];
      return [{ bytes: reply(q, { answers: [{ type: 'A', name: question.name, ttl: 60, data: '192.0.2.4' }] }) }];
    });
    const server = await lbdnsWith('{}\n', `127.0.0.1:${stub.port}`);
    try {
      const anyClass = dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: 'www.class.test', type: 'A', class: 'ANY' }] });
      assert.equal(rcodeOf(decode((await udpExchange(server.port, anyClass))!)), 'NXDOMAIN');
      const inClass = await query(server.port, 'www.class.test', 'A');
      assert.equal(rcodeOf(inClass), 'NOERROR');
      assert.deepEqual(answerData(inClass, 'A'), ['192.0.2.4']);
    } finally {
      await server.stop();
      await stub.close();
    }
  });
});

describe('upstream slots and failover', () => {
  it('holds one client to its share of upstream queries in flight: the others’ lookups still go through', async () => {
    // *.attack.test never answers; *.ok.test answers at once.
    const stub = await StubUpstream.start((q) => {
      const name = q.questions![0]!.name;
      return name.endsWith('.attack.test') ? [] : [{ bytes: reply(q, { answers: [{ type: 'A', name, ttl: 60, data: '192.0.2.5' }] }) }];
    });
    const server = await lbdnsWith('forward:\n  timeoutMs: 5000\n  maxConcurrent: 200\n  maxConcurrentPerClient: 50\n', `127.0.0.1:${stub.port}`);
    try {
      // 400 random names from 127.0.0.2, each its own upstream query: the old code let them take all 200 slots.
      const refused: string[] = [];
      const flood = Array.from({ length: 400 }, (_, i) =>
        query(server.port, `r${i}-${Math.random().toString(36).slice(2)}.attack.test`, 'A', { from: '127.0.0.2', timeoutMs: 8000 })
          .then((r) => (rcodeOf(r) === 'REFUSED' ? refused.push(r.questions![0]!.name) : 0))
          .catch(() => 0),
      );
      // Once the flood has been refused at least once, it holds all the slots it can get.
      await within(5000, async () => stub.queries.filter((q) => q.name.endsWith('.attack.test')).length >= 50 && refused.length > 0);
      // A datagram of theirs lost in the flood is asked again once, as resolvers do.
      const ask = (i: number) => query(server.port, `n${i}.ok.test`, 'A', { from: `127.0.0.${3 + i}`, timeoutMs: 2000 }).catch(() => query(server.port, `n${i}.ok.test`, 'A', { from: `127.0.0.${3 + i}`, timeoutMs: 2000 }));
      const others = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(i)));
      assert.deepEqual(others.map(rcodeOf), others.map(() => 'NOERROR'));
      assert.equal(stub.queries.filter((q) => q.name.endsWith('.attack.test')).length, 50, 'the flooding client had 50 upstream queries, no more');
      await Promise.all(flood);
    } finally {
      await server.stop();
      await stub.close();
    }
  });

  it('asks the next upstream once when one answers SERVFAIL or REFUSED, and relays the last answer when both do', async () => {
    const failing = await StubUpstream.start((q) => [{ bytes: reply(q, { rcode: q.questions![0]!.name.startsWith('refused') ? 'REFUSED' : 'SERVFAIL' }) }]);
    const good = await answering('192.0.2.6');
    const refusingToo = await refusing();
    const twoFailing = `["127.0.0.1:${failing.port}", "127.0.0.1:${refusingToo.port}"]`;
    const upstreams = `["127.0.0.1:${failing.port}", "127.0.0.1:${good.port}"]`;
    try {
      const server = await lbdnsWith(`forward:\n  policy: sequential\n  upstreams: ${upstreams}\n  stubDomains:\n    both.test: ${twoFailing}\n`, null);
      try {
        assert.equal(await first(server.port, 'servfail.example'), '192.0.2.6');
        assert.equal(await first(server.port, 'refused.example'), '192.0.2.6');
        assert.equal(rcodeOf(await query(server.port, 'servfail.both.test', 'A')), 'REFUSED', 'the last upstream’s answer');
        assert.equal(failing.count('servfail.both.test') + refusingToo.count('servfail.both.test'), 2, 'each asked once');
      } finally {
        await server.stop();
      }
      const off = await lbdnsWith(`forward:\n  policy: sequential\n  failover: false\n  upstreams: ${upstreams}\n`, null);
      try {
        assert.equal(rcodeOf(await query(off.port, 'off.example', 'A')), 'SERVFAIL', 'failover: false relays the first answer');
        assert.equal(good.count('off.example'), 0);
      } finally {
        await off.stop();
      }
    } finally {
      await Promise.all([failing.close(), good.close(), refusingToo.close()]);
    }
  });
});

describe('ExternalName completion and access', () => {
  it('does not ask upstream for an ExternalName’s target on behalf of a client without recursion', async () => {
    const upstream = await answering('192.0.2.91', 60);
    const server = await startLbdns({ config: tempFile('lbdns.yaml', 'forward:\n  allowedClients: [127.0.0.1/32]\n'), upstream: `127.0.0.1:${upstream.port}` });
    try {
      const outsider = await query(server.port, 'payments.shop.svc.cluster.local', 'A', { from: '127.0.0.5' });
      assert.deepEqual(rows(outsider.answers), [['CNAME', 'payments.shop.svc.cluster.local', 'payments.example.com']]);
      assert.equal(upstream.count(), 0, 'no upstream query for a client outside forward.allowedClients');
      const insider = await query(server.port, 'payments.shop.svc.cluster.local', 'A', { from: '127.0.0.1' });
      assert.equal(rows(insider.answers).length, 2, 'an allowed client still gets the target’s records');
    } finally {
      await server.stop();
      await upstream.close();
    }
  });

  it('does not go upstream for autopath on behalf of a pod without recursion', async () => {
    const objects = asList([
      namespaceObject('shop'),
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client', namespace: 'shop' }, status: { podIP: '127.0.0.77', podIPs: [{ ip: '127.0.0.77' }] } },
    ]);
    const upstream = await answering('192.0.2.93', 30);
    const server = await startLbdns({ objects: tempFile('objects.yaml', objects), config: tempFile('lbdns.yaml', 'pods: verified\nautopath: true\nforward:\n  allowedClients: [127.0.0.1/32]\n'), upstream: `127.0.0.1:${upstream.port}` });
    try {
      assert.equal(rcodeOf(await query(server.port, 'api.github.com.shop.svc.cluster.local', 'A', { from: '127.0.0.77' })), 'NXDOMAIN');
      assert.equal(upstream.count(), 0);
    } finally {
      await server.stop();
      await upstream.close();
    }
  });

  it('answers NODATA for an ExternalName whose target DNS cannot carry, logging it once', async () => {
    const objects = asList([
      namespaceObject('shop'),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'broken', namespace: 'shop' }, spec: { type: 'ExternalName', externalName: `${'x'.repeat(64)}.example.com` } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'spaced', namespace: 'shop' }, spec: { type: 'ExternalName', externalName: 'two words.example.com' } },
    ]);
    const upstream = await answering('192.0.2.92', 60);
    const server = await startLbdns({ objects: tempFile('objects.yaml', objects), config: tempFile('lbdns.yaml', 'answerCacheSize: 0\n'), upstream: `127.0.0.1:${upstream.port}` });
    try {
      for (const name of ['broken', 'spaced']) {
        for (const type of ['A', 'CNAME', 'A']) {
          const answer = await query(server.port, `${name}.shop.svc.cluster.local`, type);
          assert.equal(rcodeOf(answer), 'NOERROR');
          assert.deepEqual(rows(answer.answers), []);
          assert.equal(answer.authorities?.[0]?.type, 'SOA');
        }
      }
      // The log is written asynchronously: the second warning may still be on its way.
      const warned = () => server.logs.filter((l) => /ExternalName target/.test(l.msg)).map((l) => l.service).sort();
      await within(3000, async () => warned().length >= 2);
      assert.deepEqual(warned(), ['shop/broken', 'shop/spaced']);
      assert.equal(server.logs.filter((l) => l.msg === 'query handling failed').length, 0);
      assert.equal(upstream.count(), 0);
    } finally {
      await server.stop();
      await upstream.close();
    }
  });
});
