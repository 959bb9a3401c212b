/**
 * The cluster zone, table-driven, in process (the shape of CoreDNS's kubernetes handler_test.go):
 * a view built from API objects, every case a real query through the query handler, the response
 * decoded with dns-packet and compared section by section in presentation form. Answers come in a
 * fresh order each time, so sections compare as sorted sets; a CNAME must still lead its answer.
 * Each case is asked twice: the second time the answer comes from the handler's answer cache.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type InProcessResolver, TEST_SERIAL, inProcessResolver, presentRecord } from '../helpers/in-process.ts';
import type { Packet } from '../helpers/dns-client.ts';

const Z = 'cluster.local';

// --- the cluster: API objects as kubectl prints them ---

const namespace = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const service = (ns: string, name: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec });
const slice = (ns: string, serviceName: string, name: string, addressType: string, endpoints: unknown[], ports: unknown[] = []) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': serviceName } },
  addressType,
  endpoints,
  ports,
});
const endpoint = (ip: string, extra: Record<string, unknown> = {}) => ({ addresses: [ip], conditions: { ready: true }, ...extra });
const notReady = (ip: string, extra: Record<string, unknown> = {}) => ({ addresses: [ip], conditions: { ready: false }, ...extra });

const OBJECTS: unknown[] = [
  namespace('shop'),
  namespace('ops'),
  namespace('quiet'), // a namespace with nothing in it
  namespace('kube-system'),
  // ClusterIP with two named ports of two protocols, two ready endpoints and a not-ready one.
  service('shop', 'cart', { clusterIP: '10.0.1.10', ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'stats', port: 8125, protocol: 'UDP' }] }),
  slice('shop', 'cart', 'cart-1', 'IPv4', [endpoint('10.1.0.11', { targetRef: { kind: 'Pod', name: 'cart-a' } }), endpoint('10.1.0.12', { targetRef: { kind: 'Pod', name: 'cart-b' } }), notReady('10.1.0.13')], [
    { name: 'http', port: 8080 },
    { name: 'stats', port: 8125, protocol: 'UDP' },
  ]),
  // Dual-stack ClusterIP.
  service('shop', 'dual', { clusterIPs: ['10.0.1.20', 'fd00::1:20'], ports: [{ name: 'grpc', port: 9090 }] }),
  // Headless: hostnames, a not-ready endpoint, an IPv6 slice without hostnames.
  service('shop', 'db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }),
  slice('shop', 'db', 'db-v4', 'IPv4', [endpoint('10.1.0.21', { hostname: 'db-0' }), endpoint('10.1.0.22', { hostname: 'db-1' }), notReady('10.1.0.23', { hostname: 'db-2' })], [{ name: 'pg', port: 5432 }]),
  slice('shop', 'db', 'db-v6', 'IPv6', [endpoint('fd00::2:21')], [{ name: 'pg', port: 5432 }]),
  // Headless without ports.
  service('shop', 'bare', { clusterIP: 'None' }),
  slice('shop', 'bare', 'bare-1', 'IPv4', [endpoint('10.1.0.31')]),
  // Headless publishing not-ready endpoints.
  service('shop', 'peers', { clusterIP: 'None', publishNotReadyAddresses: true }),
  slice('shop', 'peers', 'peers-1', 'IPv4', [notReady('10.1.0.41', { hostname: 'peer-0' }), endpoint('10.1.0.42', { hostname: 'peer-1' })]),
  // ExternalName: outside the zone (letter case and root dot as users write them), inside it, to itself, unusable.
  service('shop', 'ext', { type: 'ExternalName', externalName: 'Api.Example.org.' }),
  service('shop', 'alias', { type: 'ExternalName', externalName: 'cart.shop.svc.cluster.local' }),
  service('shop', 'loop', { type: 'ExternalName', externalName: 'loop.shop.svc.cluster.local' }),
  service('shop', 'bad-ext', { type: 'ExternalName', externalName: `${'x'.repeat(64)}.example.org` }),
  // ClusterIP without endpoints.
  service('shop', 'idle', { clusterIP: '10.0.1.60', ports: [{ name: 'http', port: 80 }] }),
  // ClusterIP with only a v1 Endpoints object.
  service('shop', 'legacy', { clusterIP: '10.0.1.70', ports: [{ name: 'http', port: 80 }] }),
  {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'legacy', namespace: 'shop' },
    subsets: [{ addresses: [{ ip: '10.1.0.71', hostname: 'legacy-0' }], notReadyAddresses: [{ ip: '10.1.0.72' }], ports: [{ name: 'http', port: 8080 }] }],
  },
  // The same Service name in another namespace.
  service('ops', 'cart', { clusterIP: '10.0.2.10', ports: [{ name: 'http', port: 80 }] }),
  // The cluster DNS Service, for the NS records of a server that is one of its endpoints.
  service('kube-system', 'kube-dns', { clusterIP: '10.0.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }),
  slice('kube-system', 'kube-dns', 'kube-dns-1', 'IPv4', [endpoint('10.1.9.53')], [{ name: 'dns', port: 53, protocol: 'UDP' }]),
  // Pods: a dual-stack one, and one in another namespace.
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'cart-a', namespace: 'shop' }, status: { podIP: '10.1.0.11', podIPs: [{ ip: '10.1.0.11' }, { ip: 'fd00::1:11' }] } },
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'tool', namespace: 'ops' }, status: { podIP: '10.1.5.5' } },
];

// --- expected records, in presentation form ---

const rr = (owner: string, type: string, data: string, ttl = 5) => `${owner}. ${ttl} IN ${type} ${data}`;
const a = (owner: string, ip: string, ttl = 5) => rr(owner, 'A', ip, ttl);
const aaaa = (owner: string, ip: string) => rr(owner, 'AAAA', ip);
const cname = (owner: string, target: string) => rr(owner, 'CNAME', `${target}.`);
const srv = (owner: string, weight: number, port: number, target: string, priority = 0) => rr(owner, 'SRV', `${priority} ${weight} ${port} ${target}.`);
const ptr = (owner: string, target: string) => rr(owner, 'PTR', `${target}.`);
const soa = (zone: string, ttl = 5) => rr(zone, 'SOA', `ns.dns.${zone}. hostmaster.${zone}. ${TEST_SERIAL} 7200 1800 86400 ${ttl}`, Math.min(ttl, 300));

interface Case {
  /** "name TYPE" */
  q: string;
  rcode?: string;
  answer?: string[];
  authority?: string[];
  additional?: string[];
  /** Set while lbdns gets the case wrong: the reason (node:test reports it as to do, not as a failure). */
  todo?: string;
}

const nxdomain = (q: string, zone = Z): Case => ({ q, rcode: 'NXDOMAIN', authority: [soa(zone)] });
const nodata = (q: string, zone = Z): Case => ({ q, authority: [soa(zone)] });
/** Names lbdns does not answer itself go upstream; in process there is none, so they are refused. */
const upstream = (q: string): Case => ({ q, rcode: 'REFUSED' });

/** `fd00::1:20` as the 32 nibbles of its ip6.arpa name. */
function ip6Reverse(hex32: string): string {
  return `${[...hex32].reverse().join('.')}.ip6.arpa`;
}

const sorted = (records: string[]) => [...records].sort();

function assertCnameFirst(reply: Packet): void {
  const types = (reply.answers ?? []).map((r) => r.type);
  const lastCname = types.lastIndexOf('CNAME');
  const firstOther = types.findIndex((t) => t !== 'CNAME');
  assert.ok(lastCname < 0 || firstOther < 0 || lastCname < firstOther, `a CNAME leads its answer: ${types.join(' ')}`);
}

function check(resolver: InProcessResolver, c: Case): void {
  const [qname, qtype] = c.q.split(' ') as [string, string];
  for (const round of ['built', 'cached']) {
    const reply = resolver.ask(qname, qtype);
    const rcode = c.rcode ?? 'NOERROR';
    assert.equal(reply.rcode ?? 'NOERROR', rcode, `${round}: rcode`);
    assert.equal(reply.questions?.[0]?.name, qname, `${round}: the question, echoed as asked`);
    if (rcode !== 'REFUSED') assert.ok(reply.flag_aa, `${round}: authoritative`);
    assertCnameFirst(reply);
    assert.deepEqual(sorted((reply.answers ?? []).map(presentRecord)), sorted(c.answer ?? []), `${round}: answer section`);
    assert.deepEqual(sorted((reply.authorities ?? []).map(presentRecord)), sorted(c.authority ?? []), `${round}: authority section`);
    assert.deepEqual(sorted((reply.additionals ?? []).map(presentRecord)), sorted(c.additional ?? []), `${round}: additional section`);
  }
}

function table(title: string, resolver: () => InProcessResolver, cases: Case[]): void {
  describe(title, () => {
    let built: InProcessResolver | null = null;
    for (const c of cases) {
      const summary = c.rcode ?? (c.answer?.length ? `${c.answer.length} answer${c.answer.length > 1 ? 's' : ''}` : 'NODATA');
      it(`${c.q} → ${summary}`, c.todo ? { todo: c.todo } : {}, () => check((built ??= resolver()), c));
    }
  });
}

// --- the tables ---

const CART = `cart.shop.svc.${Z}`;
const DB = `db.shop.svc.${Z}`;

table('ClusterIP services', () => inProcessResolver(OBJECTS), [
  { q: `${CART} A`, answer: [a(CART, '10.0.1.10')] },
  nodata(`${CART} AAAA`),
  { q: `${CART} SRV`, answer: [srv(CART, 50, 80, CART), srv(CART, 50, 8125, CART)], additional: [a(CART, '10.0.1.10')] },
  { q: `_http._tcp.${CART} SRV`, answer: [srv(`_http._tcp.${CART}`, 100, 80, CART)], additional: [a(CART, '10.0.1.10')] },
  { q: `_stats._udp.${CART} SRV`, answer: [srv(`_stats._udp.${CART}`, 100, 8125, CART)], additional: [a(CART, '10.0.1.10')] },
  { q: `_http._tcp.${CART} A`, answer: [a(`_http._tcp.${CART}`, '10.0.1.10')] },
  nxdomain(`_http._udp.${CART} SRV`),
  nxdomain(`_ftp._tcp.${CART} SRV`),
  // Empty non-terminals above a named port (RFC 8020): they exist.
  nodata(`_tcp.${CART} SRV`),
  nodata(`_udp.${CART} SRV`),
  nxdomain(`_sctp.${CART} SRV`),
  // Endpoint names of a ClusterIP Service resolve, as CoreDNS; their SRV carries the endpoint's port.
  { q: `10-1-0-11.${CART} A`, answer: [a(`10-1-0-11.${CART}`, '10.1.0.11')] },
  { q: `10-1-0-11.${CART} SRV`, answer: [srv(`10-1-0-11.${CART}`, 50, 8080, `10-1-0-11.${CART}`), srv(`10-1-0-11.${CART}`, 50, 8125, `10-1-0-11.${CART}`)], additional: [a(`10-1-0-11.${CART}`, '10.1.0.11')] },
  nxdomain(`10-1-0-13.${CART} A`),
  // Types the name does not have.
  nodata(`${CART} MX`),
  nodata(`${CART} TXT`),
  nodata(`${CART} CNAME`),
  nodata(`${CART} SOA`),
  nodata(`${CART} NS`),
  // RFC 8482: ANY gets one small record.
  { q: `${CART} ANY`, answer: [rr(CART, 'HINFO', '"RFC8482" ""')] },
  { q: `idle.shop.svc.${Z} A`, answer: [a(`idle.shop.svc.${Z}`, '10.0.1.60')] },
  { q: `cart.ops.svc.${Z} A`, answer: [a(`cart.ops.svc.${Z}`, '10.0.2.10')] },
]);

table('dual-stack services', () => inProcessResolver(OBJECTS), [
  { q: `dual.shop.svc.${Z} A`, answer: [a(`dual.shop.svc.${Z}`, '10.0.1.20')] },
  { q: `dual.shop.svc.${Z} AAAA`, answer: [aaaa(`dual.shop.svc.${Z}`, 'fd00::1:20')] },
  // One SRV per port; CoreDNS's weight counts both families' entries before they collapse.
  { q: `_grpc._tcp.dual.shop.svc.${Z} SRV`, answer: [srv(`_grpc._tcp.dual.shop.svc.${Z}`, 50, 9090, `dual.shop.svc.${Z}`)], additional: [a(`dual.shop.svc.${Z}`, '10.0.1.20'), aaaa(`dual.shop.svc.${Z}`, 'fd00::1:20')] },
]);

table('headless services', () => inProcessResolver(OBJECTS), [
  { q: `${DB} A`, answer: [a(DB, '10.1.0.21'), a(DB, '10.1.0.22')] },
  { q: `${DB} AAAA`, answer: [aaaa(DB, 'fd00::2:21')] },
  { q: `db-0.${DB} A`, answer: [a(`db-0.${DB}`, '10.1.0.21')] },
  nodata(`db-0.${DB} AAAA`),
  nxdomain(`db-2.${DB} A`),
  nxdomain(`db-9.${DB} A`),
  // An endpoint without hostname answers to its dashed IP.
  { q: `fd00--2-21.${DB} AAAA`, answer: [aaaa(`fd00--2-21.${DB}`, 'fd00::2:21')] },
  nodata(`fd00--2-21.${DB} A`),
  {
    q: `_pg._tcp.${DB} SRV`,
    answer: [srv(`_pg._tcp.${DB}`, 33, 5432, `db-0.${DB}`), srv(`_pg._tcp.${DB}`, 33, 5432, `db-1.${DB}`), srv(`_pg._tcp.${DB}`, 33, 5432, `fd00--2-21.${DB}`)],
    additional: [a(`db-0.${DB}`, '10.1.0.21'), a(`db-1.${DB}`, '10.1.0.22'), aaaa(`fd00--2-21.${DB}`, 'fd00::2:21')],
  },
  { q: `${DB} SRV`, answer: [srv(DB, 33, 5432, `db-0.${DB}`), srv(DB, 33, 5432, `db-1.${DB}`), srv(DB, 33, 5432, `fd00--2-21.${DB}`)], additional: [a(`db-0.${DB}`, '10.1.0.21'), a(`db-1.${DB}`, '10.1.0.22'), aaaa(`fd00--2-21.${DB}`, 'fd00::2:21')] },
  { q: `db-1.${DB} SRV`, answer: [srv(`db-1.${DB}`, 100, 5432, `db-1.${DB}`)], additional: [a(`db-1.${DB}`, '10.1.0.22')] },
  // Without ports: addresses, no SRV, and no port name below it.
  { q: `bare.shop.svc.${Z} A`, answer: [a(`bare.shop.svc.${Z}`, '10.1.0.31')] },
  nodata(`bare.shop.svc.${Z} SRV`),
  { q: `10-1-0-31.bare.shop.svc.${Z} A`, answer: [a(`10-1-0-31.bare.shop.svc.${Z}`, '10.1.0.31')] },
  nxdomain(`_http._tcp.bare.shop.svc.${Z} SRV`),
  // publishNotReadyAddresses: the not-ready endpoint too, under its own name as well.
  { q: `peers.shop.svc.${Z} A`, answer: [a(`peers.shop.svc.${Z}`, '10.1.0.41'), a(`peers.shop.svc.${Z}`, '10.1.0.42')] },
  { q: `peer-0.peers.shop.svc.${Z} A`, answer: [a(`peer-0.peers.shop.svc.${Z}`, '10.1.0.41')] },
]);

table('v1 Endpoints (a Service without EndpointSlices)', () => inProcessResolver(OBJECTS), [
  { q: `legacy.shop.svc.${Z} A`, answer: [a(`legacy.shop.svc.${Z}`, '10.0.1.70')] },
  { q: `legacy-0.legacy.shop.svc.${Z} A`, answer: [a(`legacy-0.legacy.shop.svc.${Z}`, '10.1.0.71')] },
  nxdomain(`10-1-0-72.legacy.shop.svc.${Z} A`),
  { q: `_http._tcp.legacy.shop.svc.${Z} SRV`, answer: [srv(`_http._tcp.legacy.shop.svc.${Z}`, 100, 80, `legacy.shop.svc.${Z}`)], additional: [a(`legacy.shop.svc.${Z}`, '10.0.1.70')] },
]);

const EXT = `ext.shop.svc.${Z}`;
table('ExternalName services', () => inProcessResolver(OBJECTS), [
  // Outside the zone: the CNAME (its target's records come from upstream, of which there is none here).
  { q: `${EXT} A`, answer: [cname(EXT, 'api.example.org')] },
  { q: `${EXT} AAAA`, answer: [cname(EXT, 'api.example.org')] },
  { q: `${EXT} CNAME`, answer: [cname(EXT, 'api.example.org')] },
  nodata(`${EXT} SRV`),
  nodata(`${EXT} TXT`),
  nxdomain(`sub.${EXT} CNAME`),
  nxdomain(`_http._tcp.${EXT} SRV`),
  nxdomain(`_tcp.${EXT} SRV`),
  // Inside the zone: the CNAME, then its target's records; none for a family the target lacks.
  { q: `alias.shop.svc.${Z} A`, answer: [cname(`alias.shop.svc.${Z}`, CART), a(CART, '10.0.1.10')] },
  nodata(`alias.shop.svc.${Z} AAAA`),
  { q: `alias.shop.svc.${Z} CNAME`, answer: [cname(`alias.shop.svc.${Z}`, CART)] },
  // A CNAME to itself is never answered (it would loop); a target no CNAME can carry: NODATA.
  nodata(`loop.shop.svc.${Z} A`),
  nodata(`bad-ext.shop.svc.${Z} A`),
  nodata(`bad-ext.shop.svc.${Z} CNAME`),
]);

table('pods: insecure (the default)', () => inProcessResolver(OBJECTS), [
  { q: `10-1-0-11.shop.pod.${Z} A`, answer: [a(`10-1-0-11.shop.pod.${Z}`, '10.1.0.11')] },
  { q: `1-2-3-4.shop.pod.${Z} A`, answer: [a(`1-2-3-4.shop.pod.${Z}`, '1.2.3.4')] },
  { q: `1-2-3-4.quiet.pod.${Z} A`, answer: [a(`1-2-3-4.quiet.pod.${Z}`, '1.2.3.4')] },
  { q: `fd00--1-11.shop.pod.${Z} AAAA`, answer: [aaaa(`fd00--1-11.shop.pod.${Z}`, 'fd00::1:11')] },
  nodata(`fd00--1-11.shop.pod.${Z} A`),
  // An IPv4-mapped IPv6 label is the IPv4 address, as Go parses it.
  { q: `0-0-0-0-0-ffff-102-304.shop.pod.${Z} A`, answer: [a(`0-0-0-0-0-ffff-102-304.shop.pod.${Z}`, '1.2.3.4')] },
  nxdomain(`1-2-3-999.shop.pod.${Z} A`),
  nxdomain(`not-an-ip.shop.pod.${Z} A`),
  nxdomain(`1-2-3-4.nowhere.pod.${Z} A`),
  nodata(`shop.pod.${Z} A`),
  nodata(`pod.${Z} A`),
]);

table('pods: verified', () => inProcessResolver(OBJECTS, { settings: { pods: 'verified' } }), [
  { q: `10-1-0-11.shop.pod.${Z} A`, answer: [a(`10-1-0-11.shop.pod.${Z}`, '10.1.0.11')] },
  // Every podIPs entry, not only status.podIP.
  { q: `fd00--1-11.shop.pod.${Z} AAAA`, answer: [aaaa(`fd00--1-11.shop.pod.${Z}`, 'fd00::1:11')] },
  { q: `10-1-5-5.ops.pod.${Z} A`, answer: [a(`10-1-5-5.ops.pod.${Z}`, '10.1.5.5')] },
  nxdomain(`10-1-0-11.ops.pod.${Z} A`),
  nxdomain(`1-2-3-4.shop.pod.${Z} A`),
  // The label must spell the address as the API does.
  nxdomain(`fd00-0-0-0-0-0-1-11.shop.pod.${Z} AAAA`),
]);

table('pods: disabled', () => inProcessResolver(OBJECTS, { settings: { pods: 'disabled' } }), [nxdomain(`10-1-0-11.shop.pod.${Z} A`), nxdomain(`shop.pod.${Z} A`), nodata(`pod.${Z} A`)]);

table('the zone apex and names that exist without records', () => inProcessResolver(OBJECTS), [
  { q: `${Z} SOA`, answer: [soa(Z)] },
  { q: `${Z} NS`, answer: [rr(Z, 'NS', `ns.dns.${Z}.`)], additional: [a(`ns.dns.${Z}`, '127.0.0.1')] },
  nodata(`${Z} A`),
  nodata(`${Z} TXT`),
  { q: `dns-version.${Z} TXT`, answer: [rr(`dns-version.${Z}`, 'TXT', '"1.1.0"', 28800)] },
  nodata(`dns-version.${Z} A`),
  { q: `ns.dns.${Z} A`, answer: [a(`ns.dns.${Z}`, '127.0.0.1')] },
  nodata(`ns.dns.${Z} AAAA`),
  nodata(`dns.${Z} A`),
  nxdomain(`x.dns.${Z} A`),
  nodata(`svc.${Z} A`),
  nodata(`svc.${Z} NS`),
  nodata(`shop.svc.${Z} A`),
  nodata(`shop.svc.${Z} TXT`),
  nodata(`quiet.svc.${Z} A`),
  nxdomain(`nowhere.svc.${Z} A`),
  nxdomain(`foo.svc.${Z} NS`),
  nxdomain(`foo.${Z} A`),
  nxdomain(`nope.shop.svc.${Z} A`),
  // A name that does not exist has no SOA either (CoreDNS answers NODATA here).
  nxdomain(`nope.shop.svc.${Z} SOA`),
  nxdomain(`a.b.c.cart.shop.svc.${Z} A`),
  nxdomain(`cart.shop.svx.${Z} A`),
]);

table('no wildcards (removed from CoreDNS in 1.9.0)', () => inProcessResolver(OBJECTS), [
  nxdomain(`*.shop.svc.${Z} A`),
  nxdomain(`any.shop.svc.${Z} A`),
  nxdomain(`cart.*.svc.${Z} A`),
  nxdomain(`cart.any.svc.${Z} A`),
  nxdomain(`*.${CART} A`),
  nxdomain(`_*._tcp.${CART} SRV`),
  nxdomain(`_http._*.${CART} SRV`),
]);

table('letter case: matched without it, echoed as asked, SRV targets lowercase', () => inProcessResolver(OBJECTS), [
  { q: 'CART.Shop.SVC.Cluster.Local A', answer: [a('CART.Shop.SVC.Cluster.Local', '10.0.1.10')] },
  { q: 'DB-0.Db.shop.svc.cluster.local A', answer: [a('DB-0.Db.shop.svc.cluster.local', '10.1.0.21')] },
  { q: '_HTTP._Tcp.Cart.shop.svc.cluster.local SRV', answer: [srv('_HTTP._Tcp.Cart.shop.svc.cluster.local', 100, 80, CART)], additional: [a('Cart.shop.svc.cluster.local', '10.0.1.10')] },
  // Names are compressed against the question, so the SOA spells the zone as the asker did.
  { q: 'Nope.Shop.svc.Cluster.Local A', rcode: 'NXDOMAIN', authority: [soa('Cluster.Local')] },
  { q: '10.1.0.10.IN-ADDR.arpa PTR', answer: [ptr('10.1.0.10.IN-ADDR.arpa', CART)] },
]);

describe('letter case of a cached answer', () => {
  it('follows each asker: the answer cache keeps one answer for every spelling of a name', () => {
    const resolver = inProcessResolver(OBJECTS);
    for (const spelling of ['CART.shop.svc.cluster.local', 'cart.SHOP.svc.cluster.local', 'cart.shop.svc.CLUSTER.LOCAL']) {
      const reply = resolver.ask(`_http._tcp.${spelling}`, 'SRV');
      assert.deepEqual(reply.answers?.map(presentRecord), [srv(`_http._tcp.${spelling}`, 100, 80, CART)]);
      const missing = resolver.ask(`nope.${spelling.split('.').slice(1).join('.')}`, 'A');
      assert.equal(missing.authorities?.[0]?.name, spelling.split('.').slice(3).join('.'));
    }
  });
});

table('reverse zones', () => inProcessResolver(OBJECTS), [
  // A ClusterIP's PTR is its Service; an endpoint's is its hostname or dashed IP under its Service.
  { q: '10.1.0.10.in-addr.arpa PTR', answer: [ptr('10.1.0.10.in-addr.arpa', CART)] },
  { q: '10.2.0.10.in-addr.arpa PTR', answer: [ptr('10.2.0.10.in-addr.arpa', `cart.ops.svc.${Z}`)] },
  { q: `${ip6Reverse('fd000000000000000000000000010020')} PTR`, answer: [ptr(ip6Reverse('fd000000000000000000000000010020'), `dual.shop.svc.${Z}`)] },
  { q: '21.0.1.10.in-addr.arpa PTR', answer: [ptr('21.0.1.10.in-addr.arpa', `db-0.${DB}`)] },
  { q: '11.0.1.10.in-addr.arpa PTR', answer: [ptr('11.0.1.10.in-addr.arpa', `10-1-0-11.${CART}`)] },
  { q: `${ip6Reverse('fd000000000000000000000000020021')} PTR`, answer: [ptr(ip6Reverse('fd000000000000000000000000020021'), `fd00--2-21.${DB}`)] },
  { q: '41.0.1.10.in-addr.arpa PTR', answer: [ptr('41.0.1.10.in-addr.arpa', `peer-0.peers.shop.svc.${Z}`)] },
  { q: 'in-addr.arpa SOA', answer: [soa('in-addr.arpa')] },
  nodata('in-addr.arpa NS', 'in-addr.arpa'),
  // Not-ready endpoints and pods have no PTR; names lbdns does not know go upstream (reverse.fallthrough).
  upstream('23.0.1.10.in-addr.arpa PTR'),
  upstream('5.5.1.10.in-addr.arpa PTR'),
  upstream('9.9.9.9.in-addr.arpa PTR'),
  upstream('0.1.10.in-addr.arpa PTR'),
  upstream('10.1.0.10.in-addr.arpa A'),
]);

table('reverse.fallthrough: false', () => inProcessResolver(OBJECTS, { settings: { reverse: { zones: ['in-addr.arpa', 'ip6.arpa'], fallthrough: false } } }), [
  { q: '10.1.0.10.in-addr.arpa PTR', answer: [ptr('10.1.0.10.in-addr.arpa', CART)] },
  nxdomain('23.0.1.10.in-addr.arpa PTR', 'in-addr.arpa'),
  nxdomain('9.9.9.9.in-addr.arpa PTR', 'in-addr.arpa'),
  {
    ...nodata('10.1.0.10.in-addr.arpa A', 'in-addr.arpa'),
    todo: 'a reverse name that has a PTR answers NXDOMAIN for other types: the name exists, so NODATA (README: names that exist without the asked type get NOERROR)',
  },
  {
    ...nodata('0.1.10.in-addr.arpa PTR', 'in-addr.arpa'),
    todo: 'an empty non-terminal above a known address answers NXDOMAIN; RFC 8020 resolvers then drop everything below it (docs/behaviour.md answers NODATA for the cluster zones’ ones)',
  },
]);

table('ignoreEmptyService', () => inProcessResolver(OBJECTS, { settings: { ignoreEmptyService: true } }), [
  nxdomain(`idle.shop.svc.${Z} A`),
  nxdomain(`_http._tcp.idle.shop.svc.${Z} SRV`),
  { q: `${CART} A`, answer: [a(CART, '10.0.1.10')] },
  // v1 Endpoints count; headless and ExternalName Services are never "empty".
  { q: `legacy.shop.svc.${Z} A`, answer: [a(`legacy.shop.svc.${Z}`, '10.0.1.70')] },
  { q: `${DB} AAAA`, answer: [aaaa(DB, 'fd00::2:21')] },
  { q: `${EXT} CNAME`, answer: [cname(EXT, 'api.example.org')] },
]);

table('namespaces: [shop]', () => inProcessResolver(OBJECTS, { settings: { namespaces: ['shop'] } }), [
  { q: `${CART} A`, answer: [a(CART, '10.0.1.10')] },
  nxdomain(`cart.ops.svc.${Z} A`),
  nxdomain(`ops.svc.${Z} A`),
  nxdomain(`kube-system.svc.${Z} A`),
  nxdomain(`1-2-3-4.ops.pod.${Z} A`),
  { q: '10.1.0.10.in-addr.arpa PTR', answer: [ptr('10.1.0.10.in-addr.arpa', CART)] },
  upstream('10.2.0.10.in-addr.arpa PTR'),
]);

table('endpointPodNames: true', () => inProcessResolver(OBJECTS, { settings: { endpointPodNames: true } }), [
  { q: `cart-a.${CART} A`, answer: [a(`cart-a.${CART}`, '10.1.0.11')] },
  nxdomain(`10-1-0-11.${CART} A`),
  // A hostname still wins over the pod's name; an endpoint without a pod keeps its dashed IP.
  { q: `db-0.${DB} A`, answer: [a(`db-0.${DB}`, '10.1.0.21')] },
  { q: `fd00--2-21.${DB} AAAA`, answer: [aaaa(`fd00--2-21.${DB}`, 'fd00::2:21')] },
  { q: '11.0.1.10.in-addr.arpa PTR', answer: [ptr('11.0.1.10.in-addr.arpa', `cart-a.${CART}`)] },
]);

table('ttl: 600', () => inProcessResolver(OBJECTS, { settings: { ttl: 600 } }), [
  { q: `${CART} A`, answer: [a(CART, '10.0.1.10', 600)] },
  // The SOA's own TTL stays at most 300; its minimum is the ttl. dns-version keeps 28800.
  { q: `${Z} SOA`, answer: [soa(Z, 600)] },
  { q: `nope.shop.svc.${Z} A`, rcode: 'NXDOMAIN', authority: [soa(Z, 600)] },
  { q: `dns-version.${Z} TXT`, answer: [rr(`dns-version.${Z}`, 'TXT', '"1.1.0"', 28800)] },
]);

table('this server is an endpoint of kube-dns', () => inProcessResolver(OBJECTS, { serverAddresses: ['10.1.9.53'] }), [
  { q: `${Z} NS`, answer: [rr(Z, 'NS', `kube-dns.kube-system.svc.${Z}.`)], additional: [a(`kube-dns.kube-system.svc.${Z}`, '10.0.0.10')] },
  { q: `ns.dns.${Z} A`, answer: [a(`ns.dns.${Z}`, '10.0.0.10')] },
]);

table('several zones, the longest match first', () => inProcessResolver(OBJECTS, { settings: { zones: ['cluster.local', 'lb.cluster.local'] } }), [
  { q: 'cart.shop.svc.lb.cluster.local A', answer: [a('cart.shop.svc.lb.cluster.local', '10.0.1.10')] },
  nxdomain('nope.shop.svc.lb.cluster.local A', 'lb.cluster.local'),
  { q: 'lb.cluster.local SOA', answer: [soa('lb.cluster.local')] },
  nodata('lb.cluster.local A', 'lb.cluster.local'),
  { q: `${CART} A`, answer: [a(CART, '10.0.1.10')] },
  // PTRs point into the first zone.
  { q: '10.1.0.10.in-addr.arpa PTR', answer: [ptr('10.1.0.10.in-addr.arpa', CART)] },
]);
