/**
 * DNS cookies (RFC 7873/9018) and NSID (RFC 5001) through the query handler, with real query
 * bytes: what a client sends in its OPT record and what the response's OPT record carries.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inProcessResolver } from '../helpers/in-process.ts';
import { buildQuery, decode, ednsOptionsOf } from '../helpers/dns-client.ts';
import { clusterIpService, headlessService } from '../helpers/objects.ts';
import { EdnsReplies } from '../../src/server/edns-reply.ts';
import { readQueryOptions } from '../../src/wire/edns-options.ts';
import { siphash24 } from '../../src/util/siphash.ts';

const COOKIE = 10;
const NSID = 3;
const objects = [clusterIpService('default', 'web', '10.96.0.20'), ...headlessService('default', 'db', ['10.244.0.21', '10.244.1.22'])];
const clientCookie = (fill: number): Buffer => Buffer.alloc(8, fill);

function cookieOf(response: Buffer): Buffer | undefined {
  return ednsOptionsOf(decode(response))?.find((o) => o.code === COOKIE)?.data;
}

/** The header rcode and the OPT record's extended rcode byte, joined (RFC 6891 §6.1.3). */
function fullRcode(response: Buffer): number {
  const opt = response.lastIndexOf(Buffer.from([0, 0, 41]));
  return (response[3]! & 0xf) | (opt >= 0 ? response[opt + 5]! << 4 : 0);
}

describe('DNS cookies', () => {
  const resolver = inProcessResolver(objects);
  const ask = (cookie: Buffer, client = '10.244.0.5', name = 'web.default.svc.cluster.local'): Buffer =>
    resolver.exchange(buildQuery(name, 'A', { udpSize: 1232, ednsOptions: [{ code: COOKIE, data: cookie }] }), { client, transport: 'udp' })!;

  it('answers a client cookie alone with it and a server cookie: version 1, reserved zero, the time now', () => {
    const before = Math.floor(Date.now() / 1000);
    const response = ask(clientCookie(1));
    const cookie = cookieOf(response)!;
    assert.equal(cookie.length, 24);
    assert.deepEqual(cookie.subarray(0, 8), clientCookie(1));
    assert.equal(cookie[8], 1);
    assert.deepEqual([...cookie.subarray(9, 12)], [0, 0, 0]);
    assert.ok(Math.abs(cookie.readUInt32BE(12) - before) <= 2);
    assert.equal(decode(response).rcode, 'NOERROR');
    assert.equal(decode(response).answers?.length, 1);
  });

  it('echoes a good server cookie, and mints a new one for a forged, foreign or moved one', () => {
    const minted = cookieOf(ask(clientCookie(2)))!;
    assert.deepEqual(cookieOf(ask(minted)), minted);
    const forged = Buffer.from(minted);
    forged[23]! ^= 1;
    const reminted = cookieOf(ask(forged))!;
    assert.deepEqual(reminted.subarray(0, 8), clientCookie(2));
    assert.notDeepEqual(reminted.subarray(16), forged.subarray(16));
    // The cookie is bound to the client's address: another address gets its own.
    const elsewhere = cookieOf(ask(minted, '10.244.9.9'))!;
    assert.notDeepEqual(elsewhere.subarray(16), minted.subarray(16));
    // Another server's cookie (a length RFC 9018 does not make) is replaced too.
    const foreign = Buffer.concat([clientCookie(2), Buffer.alloc(12, 7)]);
    assert.equal(cookieOf(ask(foreign))!.length, 24);
  });

  it('gives each client its own cookie for a cached answer', () => {
    // The first query fills the answer cache; the others are answered from it.
    const first = cookieOf(ask(clientCookie(3), '10.244.0.7', 'db.default.svc.cluster.local'))!;
    const second = cookieOf(ask(clientCookie(4), '10.244.0.8', 'db.default.svc.cluster.local'))!;
    assert.deepEqual(first.subarray(0, 8), clientCookie(3));
    assert.deepEqual(second.subarray(0, 8), clientCookie(4));
    const plain = decode(resolver.exchange(buildQuery('db.default.svc.cluster.local', 'A', { udpSize: 1232 }), { client: '10.244.0.7', transport: 'udp' })!);
    assert.deepEqual(ednsOptionsOf(plain), []);
    assert.equal(plain.answers?.length, 2);
  });

  it('answers FORMERR for a cookie option of a malformed length, and for options that run past the OPT record', () => {
    for (const length of [0, 7, 9, 15, 41]) {
      const response = ask(Buffer.alloc(length, 5));
      assert.equal(decode(response).rcode, 'FORMERR', `cookie of ${length} bytes`);
      assert.deepEqual(ednsOptionsOf(decode(response)), []);
    }
    for (const length of [8, 16, 40]) assert.equal(decode(ask(Buffer.alloc(length, 5))).rcode, 'NOERROR', `cookie of ${length} bytes`);
    const request = buildQuery('web.default.svc.cluster.local', 'A', { udpSize: 1232, ednsOptions: [{ code: COOKIE, data: clientCookie(6) }] });
    // The option claims one byte more than the OPT record holds.
    request.writeUInt16BE(9, request.length - 10);
    assert.equal(decode(resolver.exchange(request, { transport: 'udp' })!).rcode, 'FORMERR');
  });

  it('answers BADCOOKIE over UDP to a query without a good server cookie only when strict', () => {
    const strict = inProcessResolver(objects, { settings: { cookies: { strict: true } } });
    const request = (cookie: Buffer): Buffer => buildQuery('web.default.svc.cluster.local', 'A', { udpSize: 1232, ednsOptions: [{ code: COOKIE, data: cookie }] });
    const refused = strict.exchange(request(clientCookie(8)), { client: '10.244.0.5', transport: 'udp' })!;
    assert.equal(fullRcode(refused), 23);
    assert.equal(decode(refused).answers?.length ?? 0, 0);
    const good = cookieOf(refused)!;
    const answered = strict.exchange(request(good), { client: '10.244.0.5', transport: 'udp' })!;
    assert.equal(fullRcode(answered), 0);
    assert.equal(decode(answered).answers?.length, 1);
    // Over TCP the client has proved its address: no cookie is asked for.
    assert.equal(fullRcode(strict.exchange(request(clientCookie(8)), { client: '10.244.0.5', transport: 'tcp' })!), 0);
    assert.equal(fullRcode(ask(clientCookie(8))), 0);
  });

  it('sends no cookie when cookies are disabled', () => {
    const off = inProcessResolver(objects, { settings: { cookies: { enabled: false } } });
    const response = off.exchange(buildQuery('web.default.svc.cluster.local', 'A', { udpSize: 1232, ednsOptions: [{ code: COOKIE, data: clientCookie(9) }] }), { transport: 'udp' })!;
    assert.deepEqual(ednsOptionsOf(decode(response)), []);
  });
});

describe('server cookie lifetime (RFC 9018 §4.3)', () => {
  const secret = Buffer.alloc(16, 0x42);
  const settings = { nsid: '', cookies: { enabled: true, strict: false } };
  const queryWith = (cookie: Buffer): Buffer => buildQuery('web.default.svc.cluster.local', 'A', { udpSize: 1232, ednsOptions: [{ code: COOKIE, data: cookie }] });
  const replyAt = (seconds: number, cookie: Buffer): { cookie: Buffer; valid: boolean } => {
    const request = queryWith(cookie);
    const edns = { udpSize: 1232, version: 0, dnssecOk: false, optionsAt: request.length - 4 - cookie.length, optionsEnd: request.length };
    const reply = new EdnsReplies(settings, secret, () => seconds).reply(request, edns, '192.0.2.1', 'udp');
    const strict = new EdnsReplies({ ...settings, cookies: { enabled: true, strict: true } }, secret, () => seconds).reply(request, edns, '192.0.2.1', 'udp');
    const found = readQueryOptions(reply.options!, 0, reply.options!.length)!;
    return { cookie: reply.options!.subarray(found.cookieAt, found.cookieEnd), valid: strict.rcode === null };
  };

  it('is made as RFC 9018 says: SipHash-2-4 of client cookie, version, reserved, timestamp and address', () => {
    const { cookie } = replyAt(1_559_731_985, clientCookie(1));
    const input = Buffer.concat([clientCookie(1), Buffer.from([1, 0, 0, 0]), cookie.subarray(12, 16), Buffer.from([192, 0, 2, 1])]);
    assert.equal(cookie.readUInt32BE(12), 1_559_731_985);
    assert.deepEqual(cookie.subarray(16), siphash24(secret, input));
  });

  it('echoes a cookie younger than half an hour, renews an older one, and refuses one over an hour old or from the future', () => {
    const minted = replyAt(1_000_000, clientCookie(1)).cookie;
    assert.deepEqual(replyAt(1_000_000 + 1799, minted), { cookie: minted, valid: true });
    const renewed = replyAt(1_000_000 + 1800, minted);
    assert.equal(renewed.valid, true);
    assert.equal(renewed.cookie.readUInt32BE(12), 1_001_800);
    assert.equal(replyAt(1_000_000 + 3601, minted).valid, false);
    assert.equal(replyAt(1_000_000 - 300, minted).valid, true);
    assert.equal(replyAt(1_000_000 - 301, minted).valid, false);
  });

  it('accepts a cookie across the 32-bit wrap of the clock', () => {
    const minted = replyAt(0xffffff00, clientCookie(1)).cookie;
    assert.equal(replyAt(0x100000000 + 0x10, minted).valid, true);
  });
});

describe('NSID', () => {
  const nsidQuery = (options: Array<{ code: number; data: Buffer }> = [{ code: NSID, data: Buffer.alloc(0) }]): Buffer =>
    buildQuery('web.default.svc.cluster.local', 'A', { udpSize: 1232, ednsOptions: options });

  it('answers a query with an empty NSID option with the configured name, and one without with none', () => {
    const resolver = inProcessResolver(objects, { settings: { nsid: 'lbdns-abc12' } });
    const response = decode(resolver.exchange(nsidQuery())!);
    assert.deepEqual(ednsOptionsOf(response), [{ code: NSID, data: Buffer.from('lbdns-abc12') }]);
    assert.equal(response.answers?.length, 1);
    assert.deepEqual(ednsOptionsOf(decode(resolver.exchange(buildQuery('web.default.svc.cluster.local', 'A', { udpSize: 1232 }))!)), []);
  });

  it('defaults to the pod name ($HOSTNAME), and sends none when set to an empty string', () => {
    const saved = process.env.HOSTNAME;
    process.env.HOSTNAME = 'lbdns-7d9f8-xyz';
    try {
      const options = ednsOptionsOf(decode(inProcessResolver(objects).exchange(nsidQuery())!));
      assert.deepEqual(options, [{ code: NSID, data: Buffer.from('lbdns-7d9f8-xyz') }]);
    } finally {
      if (saved === undefined) delete process.env.HOSTNAME;
      else process.env.HOSTNAME = saved;
    }
    assert.deepEqual(ednsOptionsOf(decode(inProcessResolver(objects, { settings: { nsid: '' } }).exchange(nsidQuery())!)), []);
  });

  it('sends the cookie and the NSID together, and in error responses too', () => {
    const resolver = inProcessResolver(objects, { settings: { nsid: 'replica-1' } });
    const both = ednsOptionsOf(decode(resolver.exchange(nsidQuery([{ code: COOKIE, data: clientCookie(1) }, { code: NSID, data: Buffer.alloc(0) }]))!))!;
    assert.deepEqual(both.map((o) => o.code), [COOKIE, NSID]);
    const refused = decode(resolver.exchange(buildQuery('web.default.svc.cluster.local', 'AXFR', { udpSize: 1232, ednsOptions: [{ code: NSID, data: Buffer.alloc(0) }] }))!);
    assert.equal(refused.rcode, 'REFUSED');
    assert.deepEqual(ednsOptionsOf(refused), [{ code: NSID, data: Buffer.from('replica-1') }]);
  });
});
