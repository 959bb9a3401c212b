/**
 * EDNS on forwarded answers, over real sockets against a scripted loopback upstream: a truncated
 * answer keeps the client's EDNS (an OPT record), glue is left out before anything is truncated
 * (RFC 2181 §9), and the cookie and NSID a client gets are lbdns's and its own, never the
 * upstream's or another client's, from the response cache too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as dnsPacket from 'dns-packet';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { type Packet, ednsOptionsOf, query } from '../helpers/dns-client.ts';
import { StubUpstream, reply } from '../helpers/stub-upstream.ts';

const COOKIE = 10;
const NSID = 3;
/** Extended DNS Errors (RFC 8914): an option of the upstream's that is the client's to read. */
const EDE = 15;

const optOf = (packet: Packet): { udpPayloadSize?: number } | undefined => packet.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;

describe('forwarded answers and EDNS', () => {
  let upstream: StubUpstream;
  let server: RunningServer;
  before(async () => {
    upstream = await StubUpstream.start((q) => {
      const question = q.questions![0]!;
      // The upstream's own OPT record, with options of its own: its NSID, a cookie, an extended error.
      const opt = {
        type: 'OPT',
        name: '.',
        udpPayloadSize: 4096,
        options: [
          { code: NSID, data: Buffer.from('upstream-ns') },
          { code: COOKIE, data: Buffer.alloc(24, 0xee) },
          { code: EDE, data: Buffer.from([0, 3]) },
        ],
      } as unknown as dnsPacket.Answer;
      if (question.name === 'big.example') {
        const answers = Array.from({ length: 30 }, (_, i) => ({ type: 'TXT', name: question.name, ttl: 60, data: `${String(i).padStart(2, '0')}${'x'.repeat(60)}` }));
        return [{ bytes: reply(q, { answers: answers as dnsPacket.Answer[], additionals: [opt] }) }];
      }
      if (question.name === '_x._tcp.glue.example') {
        const targets = Array.from({ length: 8 }, (_, i) => `host-${i}.glue.example`);
        const answers = targets.map((target, i) => ({ type: 'SRV', name: question.name, ttl: 60, data: { priority: 0, weight: 1, port: 8000 + i, target } }));
        const glue = targets.flatMap((target, i) => [
          { type: 'A', name: target, ttl: 60, data: `192.0.2.${i + 1}` },
          { type: 'AAAA', name: target, ttl: 60, data: `2001:db8::${i + 1}` },
        ]);
        return [{ bytes: reply(q, { answers: answers as dnsPacket.Answer[], additionals: [...(glue as dnsPacket.Answer[]), opt] }) }];
      }
      return [{ bytes: reply(q, { answers: [{ type: 'A', name: question.name, ttl: 60, data: '192.0.2.80' }], additionals: [opt] }) }];
    });
    server = await startLbdns({ config: tempFile('lbdns.yaml', 'nsid: lbdns-forwarder\n'), upstream: `127.0.0.1:${upstream.port}` });
  });
  after(async () => {
    await server.stop();
    await upstream.close();
  });

  it('keeps an OPT record in a truncated answer for a client that sent EDNS', async () => {
    const packet = await query(server.port, 'big.example', 'TXT', { udpSize: 1232 });
    assert.equal(packet.flag_tc, true);
    assert.equal(packet.answers?.length ?? 0, 0);
    assert.equal(optOf(packet)?.udpPayloadSize, 1232);
    const plain = await query(server.port, 'big.example', 'TXT', {});
    assert.equal(plain.flag_tc, true);
    assert.equal(optOf(plain), undefined);
  });

  it('leaves out the glue that does not fit, without TC, when the answer itself fits', async () => {
    const whole = await query(server.port, '_x._tcp.glue.example', 'SRV', { udpSize: 4096 });
    assert.equal(whole.answers?.length, 8);
    assert.equal(whole.additionals?.filter((a) => a.type !== 'OPT').length, 16);
    const small = await query(server.port, '_x._tcp.glue.example', 'SRV', { udpSize: 512 });
    assert.equal(small.flag_tc, false);
    assert.equal(small.answers?.length, 8);
    assert.equal(small.additionals?.filter((a) => a.type !== 'OPT').length, 0);
    assert.equal(optOf(small)?.udpPayloadSize, 1232);
  });

  it("gives each client its own cookie and lbdns's NSID, never the upstream's, from the cache too", async () => {
    const ask = (from: string, fill: number) =>
      query(server.port, 'cached.example', 'A', { udpSize: 1232, from, ednsOptions: [{ code: COOKIE, data: Buffer.alloc(8, fill) }, { code: NSID, data: Buffer.alloc(0) }] });
    // The first is a cache miss, the others are answered from the forwarding cache.
    for (const [from, fill] of [['127.0.0.2', 1], ['127.0.0.3', 2], ['127.0.0.2', 3]] as const) {
      const packet = await ask(from, fill);
      assert.deepEqual(packet.answers?.map((a) => a.data), ['192.0.2.80']);
      const options = ednsOptionsOf(packet)!;
      assert.deepEqual(options.map((o) => o.code), [EDE, COOKIE, NSID], from);
      const cookie = options.find((o) => o.code === COOKIE)!.data;
      assert.equal(cookie.length, 24);
      assert.deepEqual(cookie.subarray(0, 8), Buffer.alloc(8, fill));
      assert.equal(options.find((o) => o.code === NSID)!.data.toString(), 'lbdns-forwarder');
    }
    assert.equal(upstream.count('cached.example'), 1);
    const without = await query(server.port, 'cached.example', 'A', { udpSize: 1232 });
    assert.deepEqual(ednsOptionsOf(without)!.map((o) => o.code), [EDE]);
  });
});
