/**
 * The Kubernetes DNS schema (spec 1.1.0, CoreDNS's observable behaviour) answered by the real
 * server over real UDP packets, for every kind of Service in the demo cluster.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { answerData, query, rcodeOf, type Packet } from '../helpers/dns-client.ts';
import { type StubUpstream, refusing } from '../helpers/stub-upstream.ts';

const Z = 'cluster.local';
let server: RunningServer;
let upstream: StubUpstream;
const ask = (name: string, type: string) => query(server.port, name, type);
const sorted = (values: unknown[]) => [...values].map(String).sort();
const soaOf = (packet: Packet) => (packet.authorities ?? []).find((a) => a.type === 'SOA');

function assertNodata(packet: Packet): void {
  assert.equal(rcodeOf(packet), 'NOERROR');
  assert.equal(packet.answers?.length, 0);
  assert.ok(soaOf(packet), 'a NODATA answer carries the zone SOA in the authority section');
}

function assertNxdomain(packet: Packet): void {
  assert.equal(rcodeOf(packet), 'NXDOMAIN');
  assert.equal(packet.answers?.length, 0);
  assert.equal(soaOf(packet)?.name, Z);
}

before(async () => {
  upstream = await refusing();
  server = await startLbdns({ upstream: `127.0.0.1:${upstream.port}` });
});
after(async () => {
  await server.stop();
  await upstream.close();
});

describe('ClusterIP services', () => {
  it('answers A with the ClusterIP, authoritative, no recursion offered, TTL from the settings', async () => {
    const reply = await ask(`web.default.svc.${Z}`, 'A');
    assert.equal(rcodeOf(reply), 'NOERROR');
    assert.deepEqual(answerData(reply, 'A'), ['10.96.0.20']);
    assert.equal(reply.answers?.[0]?.ttl, 5);
    assert.ok(reply.flag_aa, 'AA');
    assert.ok(!reply.flag_ra, 'RA is not set, as CoreDNS');
  });

  it('echoes the question with its original letter case and matches case-insensitively', async () => {
    const reply = await ask(`WeB.DeFault.SVC.Cluster.Local`, 'A');
    assert.equal(reply.questions?.[0]?.name, 'WeB.DeFault.SVC.Cluster.Local');
    assert.equal(reply.answers?.[0]?.name, 'WeB.DeFault.SVC.Cluster.Local');
    assert.deepEqual(answerData(reply, 'A'), ['10.96.0.20']);
  });

  it('answers SRV for a named port with the service as target and its address as glue', async () => {
    const reply = await ask(`_http._tcp.web.default.svc.${Z}`, 'SRV');
    assert.deepEqual(answerData(reply, 'SRV'), [{ priority: 0, weight: 100, port: 80, target: `web.default.svc.${Z}` }]);
    assert.deepEqual(
      (reply.additionals ?? []).filter((a) => a.type === 'A').map((a) => [a.name, (a as { data: string }).data]),
      [[`web.default.svc.${Z}`, '10.96.0.20']],
    );
  });

  it('answers SRV on the bare service name with every port, weight split as CoreDNS does', async () => {
    const reply = await ask(`web.default.svc.${Z}`, 'SRV');
    const records = answerData(reply, 'SRV') as Array<{ port: number; weight: number }>;
    assert.deepEqual(records.map((r) => r.port).sort(), [443, 80]);
    assert.ok(records.every((r) => r.weight === 50));
  });

  it('answers A on an SRV-form name and NXDOMAIN for a port the service does not have', async () => {
    assert.deepEqual(answerData(await ask(`_https._tcp.web.default.svc.${Z}`, 'A'), 'A'), ['10.96.0.20']);
    assertNxdomain(await ask(`_http._udp.web.default.svc.${Z}`, 'SRV'));
    assertNxdomain(await ask(`_ftp._tcp.web.default.svc.${Z}`, 'SRV'));
  });

  it('treats `_tcp.<svc>` above a named port as an empty non-terminal (NODATA)', async () => {
    assertNodata(await ask(`_tcp.web.default.svc.${Z}`, 'SRV'));
  });

  it('answers a service with no endpoints with its ClusterIP', async () => {
    assert.deepEqual(answerData(await ask(`idle.shop.svc.${Z}`, 'A'), 'A'), ['10.96.0.60']);
  });

  it('answers NODATA for the family a single-stack service lacks', async () => {
    assertNodata(await ask(`web.default.svc.${Z}`, 'AAAA'));
  });

  it('resolves endpoint names of a ClusterIP service, as CoreDNS does', async () => {
    assert.deepEqual(answerData(await ask(`10-244-1-12.web.default.svc.${Z}`, 'A'), 'A'), ['10.244.1.12']);
  });
});

describe('dual-stack services', () => {
  it('answers A and AAAA with the ClusterIP of each family', async () => {
    assert.deepEqual(answerData(await ask(`api.default.svc.${Z}`, 'A'), 'A'), ['10.96.0.30']);
    assert.deepEqual(answerData(await ask(`api.default.svc.${Z}`, 'AAAA'), 'AAAA'), ['fd00:10:96::30']);
  });

  it('answers one SRV with both addresses as glue', async () => {
    const reply = await ask(`_grpc._tcp.api.default.svc.${Z}`, 'SRV');
    assert.equal(reply.answers?.length, 1);
    const glue = (reply.additionals ?? []).filter((a) => a.type === 'A' || a.type === 'AAAA').map((a) => (a as { data: string }).data);
    assert.deepEqual(glue.sort(), ['10.96.0.30', 'fd00:10:96::30']);
  });
});

describe('headless services', () => {
  it('answers the ready endpoints only', async () => {
    assert.deepEqual(sorted(answerData(await ask(`db.default.svc.${Z}`, 'A'), 'A')), ['10.244.0.21', '10.244.1.22']);
  });

  it('answers hostname.service names for endpoints with a hostname; NXDOMAIN for a not-ready one', async () => {
    assert.deepEqual(answerData(await ask(`db-1.db.default.svc.${Z}`, 'A'), 'A'), ['10.244.1.22']);
    assertNxdomain(await ask(`db-2.db.default.svc.${Z}`, 'A'));
  });

  it('answers SRV per ready endpoint with the hostname target and its A record as glue', async () => {
    const reply = await ask(`_postgres._tcp.db.default.svc.${Z}`, 'SRV');
    const records = answerData(reply, 'SRV') as Array<{ target: string; port: number; weight: number }>;
    assert.deepEqual(records.map((r) => r.target).sort(), [`db-0.db.default.svc.${Z}`, `db-1.db.default.svc.${Z}`]);
    assert.ok(records.every((r) => r.port === 5432 && r.weight === 50));
    const glue = Object.fromEntries((reply.additionals ?? []).filter((a) => a.type === 'A').map((a) => [a.name, (a as { data: string }).data]));
    assert.deepEqual(glue, { [`db-0.db.default.svc.${Z}`]: '10.244.0.21', [`db-1.db.default.svc.${Z}`]: '10.244.1.22' });
  });

  it('names endpoints without a hostname after their IP with dashes', async () => {
    const reply = await ask(`_jobs._tcp.workers.shop.svc.${Z}`, 'SRV');
    const targets = (answerData(reply, 'SRV') as Array<{ target: string }>).map((r) => r.target).sort();
    assert.deepEqual(targets, ['10-244-0-41', '10-244-0-44', '10-244-1-42', '10-244-2-43'].map((h) => `${h}.workers.shop.svc.${Z}`));
    assert.deepEqual(answerData(await ask(`10-244-2-43.workers.shop.svc.${Z}`, 'A'), 'A'), ['10.244.2.43']);
  });

  it('publishes not-ready endpoints of a publishNotReadyAddresses service', async () => {
    assert.deepEqual(sorted(answerData(await ask(`peers.shop.svc.${Z}`, 'A'), 'A')), ['10.244.0.51', '10.244.1.52']);
    assert.deepEqual(answerData(await ask(`peer-1.peers.shop.svc.${Z}`, 'A'), 'A'), ['10.244.1.52']);
  });

  it('uses v1 Endpoints for a service that has no EndpointSlice', async () => {
    assert.deepEqual(answerData(await ask(`legacy.shop.svc.${Z}`, 'A'), 'A'), ['10.244.2.61']);
    assert.deepEqual(answerData(await ask(`legacy-0.legacy.shop.svc.${Z}`, 'A'), 'A'), ['10.244.2.61']);
  });
});

describe('ExternalName services', () => {
  it('answers A with a CNAME to an outside name, and a CNAME query with the CNAME', async () => {
    const reply = await ask(`payments.shop.svc.${Z}`, 'A');
    assert.deepEqual(answerData(reply), ['payments.example.com']);
    assert.equal(reply.answers?.[0]?.type, 'CNAME');
    assert.deepEqual(answerData(await ask(`payments.shop.svc.${Z}`, 'CNAME'), 'CNAME'), ['payments.example.com']);
  });

  it('follows a CNAME into the cluster zone', async () => {
    const reply = await ask(`www.shop.svc.${Z}`, 'A');
    assert.deepEqual(
      reply.answers?.map((a) => [a.type, a.name, (a as { data: unknown }).data]),
      [
        ['CNAME', `www.shop.svc.${Z}`, `web.default.svc.${Z}`],
        ['A', `web.default.svc.${Z}`, '10.96.0.20'],
      ],
    );
  });

  it('answers NODATA for SRV, as CoreDNS', async () => {
    assertNodata(await ask(`payments.shop.svc.${Z}`, 'SRV'));
  });
});

describe('pods (insecure, the default)', () => {
  it('answers any well-formed IPv4 or IPv6 label in an existing namespace', async () => {
    assert.deepEqual(answerData(await ask(`10-244-0-11.default.pod.${Z}`, 'A'), 'A'), ['10.244.0.11']);
    assert.deepEqual(answerData(await ask(`1-2-3-4.shop.pod.${Z}`, 'A'), 'A'), ['1.2.3.4']);
    assert.deepEqual(answerData(await ask(`fd00-10-244--31.default.pod.${Z}`, 'AAAA'), 'AAAA'), ['fd00:10:244::31']);
  });

  it('answers NXDOMAIN for a bad label or an unknown namespace', async () => {
    assertNxdomain(await ask(`1-2-3-999.default.pod.${Z}`, 'A'));
    assertNxdomain(await ask(`1-2-3-4.nowhere.pod.${Z}`, 'A'));
  });
});

describe('the zone itself', () => {
  it('answers dns-version TXT with the schema version', async () => {
    const reply = await ask(`dns-version.${Z}`, 'TXT');
    assert.deepEqual(
      answerData(reply, 'TXT').map((d) => (d as Buffer[]).map(String)),
      [['1.1.0']],
    );
    assert.equal(reply.answers?.[0]?.ttl, 28800);
  });

  it('answers SOA at the apex as CoreDNS builds it', async () => {
    const reply = await ask(Z, 'SOA');
    const soa = answerData(reply, 'SOA')[0] as { mname: string; rname: string; refresh: number; retry: number; expire: number; minimum: number; serial: number };
    assert.equal(soa.mname, `ns.dns.${Z}`);
    assert.equal(soa.rname, `hostmaster.${Z}`);
    assert.deepEqual([soa.refresh, soa.retry, soa.expire, soa.minimum], [7200, 1800, 86400, 5]);
    assert.ok(soa.serial > 1_600_000_000, 'the serial is the unix time of the last change');
  });

  it('names itself ns.dns.<zone> with its own address as glue when it is no Service endpoint', async () => {
    const reply = await ask(Z, 'NS');
    assert.deepEqual(answerData(reply, 'NS'), [`ns.dns.${Z}`]);
    const glue = (reply.additionals ?? []).filter((a) => a.type === 'A').map((a) => [a.name, (a as { data: string }).data]);
    assert.deepEqual(glue, [[`ns.dns.${Z}`, '127.0.0.1']]);
    assert.deepEqual(answerData(await ask(`ns.dns.${Z}`, 'A'), 'A'), ['127.0.0.1']);
  });

  it('answers NODATA at the apex, svc.<zone>, an existing namespace, and NXDOMAIN elsewhere', async () => {
    assertNodata(await ask(Z, 'A'));
    assertNodata(await ask(`svc.${Z}`, 'A'));
    assertNodata(await ask(`default.svc.${Z}`, 'A'));
    assertNodata(await ask(`default.svc.${Z}`, 'TXT'));
    assertNodata(await ask(`web.default.svc.${Z}`, 'MX'));
    assertNxdomain(await ask(`nowhere.svc.${Z}`, 'A'));
    assertNxdomain(await ask(`nope.default.svc.${Z}`, 'A'));
    assertNxdomain(await ask(`foo.${Z}`, 'A'));
    assertNxdomain(await ask(`a.b.c.web.default.svc.${Z}`, 'A'));
  });

  it('passes names outside its zones upstream and never cluster-zone names', async () => {
    const before = upstream.count();
    assert.equal(rcodeOf(await ask('example.com', 'A')), 'REFUSED', 'the upstream’s REFUSED, relayed');
    assert.equal(upstream.count('example.com'), 1);
    await ask('api.github.com.default.svc.cluster.local', 'A');
    assert.equal(upstream.count(), before + 1, 'search-path misses are answered from the view');
  });
});

describe('reverse zones', () => {
  it('answers PTR for ClusterIPs of both families', async () => {
    assert.deepEqual(answerData(await ask('20.0.96.10.in-addr.arpa', 'PTR'), 'PTR'), [`web.default.svc.${Z}`]);
    const v6 = '0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa';
    assert.deepEqual(answerData(await ask(v6, 'PTR'), 'PTR'), [`api.default.svc.${Z}`]);
  });

  it('answers PTR for endpoint addresses with their hostname or dashed name', async () => {
    assert.deepEqual(answerData(await ask('21.0.244.10.in-addr.arpa', 'PTR'), 'PTR'), [`db-0.db.default.svc.${Z}`]);
    assert.deepEqual(answerData(await ask('42.1.244.10.in-addr.arpa', 'PTR'), 'PTR'), [`10-244-1-42.workers.shop.svc.${Z}`]);
  });

  it('passes an unknown reverse name upstream (reverse.fallthrough)', async () => {
    assert.equal(rcodeOf(await ask('9.9.9.9.in-addr.arpa', 'PTR')), 'REFUSED');
    assert.equal(upstream.count('9.9.9.9.in-addr.arpa'), 1);
  });
});

describe('settings change the answers', () => {
  async function withSettings(extra: string, check: (port: number) => Promise<void>): Promise<void> {
    const config = tempFile('lbdns.yaml', `${extra}\n`);
    const other = await startLbdns({ config, upstream: `127.0.0.1:${upstream.port}` });
    try {
      await check(other.port);
    } finally {
      await other.stop();
    }
  }

  it('pods: verified answers only IPs of pods in that namespace', async () => {
    await withSettings('pods: verified', async (port) => {
      assert.deepEqual(answerData(await query(port, `10-244-0-11.default.pod.${Z}`, 'A'), 'A'), ['10.244.0.11']);
      assert.equal(rcodeOf(await query(port, `1-2-3-4.default.pod.${Z}`, 'A')), 'NXDOMAIN');
      assert.equal(rcodeOf(await query(port, `10-244-0-41.default.pod.${Z}`, 'A')), 'NXDOMAIN');
      assert.deepEqual(answerData(await query(port, `10-244-0-41.shop.pod.${Z}`, 'A'), 'A'), ['10.244.0.41']);
    });
  });

  it('pods: disabled answers NXDOMAIN', async () => {
    await withSettings('pods: disabled', async (port) => {
      assert.equal(rcodeOf(await query(port, `10-244-0-11.default.pod.${Z}`, 'A')), 'NXDOMAIN');
    });
  });

  it('ignoreEmptyService answers NXDOMAIN for a ClusterIP service without endpoints', async () => {
    await withSettings('ignoreEmptyService: true', async (port) => {
      assert.equal(rcodeOf(await query(port, `idle.shop.svc.${Z}`, 'A')), 'NXDOMAIN');
      assert.deepEqual(answerData(await query(port, `web.default.svc.${Z}`, 'A'), 'A'), ['10.96.0.20']);
    });
  });

  it('endpointPodNames names hostname-less endpoints after their pod', async () => {
    await withSettings('endpointPodNames: true', async (port) => {
      assert.deepEqual(answerData(await query(port, `workers-bbbbb.workers.shop.svc.${Z}`, 'A'), 'A'), ['10.244.1.42']);
      assert.deepEqual(answerData(await query(port, '42.1.244.10.in-addr.arpa', 'PTR'), 'PTR'), [`workers-bbbbb.workers.shop.svc.${Z}`]);
    });
  });

  it('namespaces limits what is served', async () => {
    await withSettings('namespaces: [shop]', async (port) => {
      assert.equal(rcodeOf(await query(port, `web.default.svc.${Z}`, 'A')), 'NXDOMAIN');
      assert.deepEqual(answerData(await query(port, `idle.shop.svc.${Z}`, 'A'), 'A'), ['10.96.0.60']);
      assert.equal(rcodeOf(await query(port, '20.0.96.10.in-addr.arpa', 'PTR')), 'REFUSED');
    });
  });

  it('reverse.fallthrough: false answers NXDOMAIN for unknown reverse names', async () => {
    await withSettings('reverse: { zones: [in-addr.arpa, ip6.arpa], fallthrough: false }', async (port) => {
      const reply = await query(port, '9.9.9.9.in-addr.arpa', 'PTR');
      assert.equal(rcodeOf(reply), 'NXDOMAIN');
      assert.equal(soaOf(reply)?.name, 'in-addr.arpa');
    });
  });

  it('serves several zones, PTRs pointing into the first', async () => {
    await withSettings('zones: [cluster.local, corp.internal]', async (port) => {
      assert.deepEqual(answerData(await query(port, 'web.default.svc.corp.internal', 'A'), 'A'), ['10.96.0.20']);
      assert.deepEqual(answerData(await query(port, 'web.default.svc.cluster.local', 'A'), 'A'), ['10.96.0.20']);
      assert.deepEqual(answerData(await query(port, '20.0.96.10.in-addr.arpa', 'PTR'), 'PTR'), ['web.default.svc.cluster.local']);
    });
  });
});
