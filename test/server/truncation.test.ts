/**
 * TC only when the answer itself does not fit (RFC 2181 §9): glue in the additional section is
 * left out first, and a response that lost only glue is no truncated response. Headless Services'
 * SRV answers carry an A record per target as glue, so they are where this shows.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inProcessResolver } from '../helpers/in-process.ts';
import { addresses, headlessService } from '../helpers/objects.ts';
import { type Packet, buildQuery, decode } from '../helpers/dns-client.ts';

const SRV_NAME = '_http._tcp.db.default.svc.cluster.local';

function srvOver(endpoints: number, transport: 'udp' | 'tcp', udpSize?: number): Packet {
  const resolver = inProcessResolver(headlessService('default', 'db', addresses(endpoints)));
  return resolver.ask(SRV_NAME, 'SRV', { transport, udpSize });
}

/** Every additional record sent is the glue of a target in the answer, with the address the whole answer gives it. */
function assertGlueMatches(packet: Packet, whole: Packet): void {
  const targets = new Set((packet.answers ?? []).map((a) => (a.data as { target: string }).target));
  const addressOf = new Map((whole.additionals ?? []).map((a) => [a.name, a.data]));
  for (const glue of packet.additionals ?? []) {
    assert.ok(targets.has(glue.name), `${glue.name} is no target of the answer`);
    assert.equal(glue.data, addressOf.get(glue.name));
  }
}

describe('truncation at 512 bytes (no EDNS)', () => {
  it('sends every SRV record without TC when only their glue does not fit, and the glue that fits', () => {
    // 7 SRV records (about 50 bytes each) fit in 512 bytes; with an A record of glue each they do not.
    const whole = srvOver(7, 'tcp');
    assert.equal(whole.answers?.length, 7);
    assert.equal(whole.additionals?.length, 7);
    const packet = srvOver(7, 'udp');
    assert.equal(packet.flag_tc, false);
    assert.equal(packet.answers?.length, 7);
    assert.ok((packet.additionals?.length ?? 0) < 7);
    assertGlueMatches(packet, whole);
  });

  it('sends all the glue when the client says it has room (EDNS)', () => {
    const packet = srvOver(7, 'udp', 1232);
    assert.equal(packet.flag_tc, false);
    assert.equal(packet.additionals?.filter((a) => a.type === 'A').length, 7);
  });

  it('sets TC when the SRV records themselves do not fit, and sends no glue', () => {
    for (const endpoints of [8, 30]) {
      const packet = srvOver(endpoints, 'udp');
      assert.equal(packet.flag_tc, true, `${endpoints} endpoints`);
      assert.ok((packet.answers?.length ?? 0) < endpoints);
      assert.equal(packet.additionals?.length ?? 0, 0);
    }
  });

  it('sets TC for a headless A answer with more addresses than fit, as before', () => {
    const resolver = inProcessResolver(headlessService('default', 'big', addresses(60)));
    const packet = resolver.ask('big.default.svc.cluster.local', 'A', { transport: 'udp' });
    assert.equal(packet.flag_tc, true);
    assert.ok((packet.answers?.length ?? 0) > 0 && (packet.answers?.length ?? 0) < 60);
    const small = resolver.ask('big.default.svc.cluster.local', 'A', { transport: 'tcp' });
    assert.equal(small.answers?.length, 60);
  });

  it('cuts an answer every client gets alike (an address 15 Services publish: 15 PTR records, 1 KiB) the same way, first asked and from the cache', () => {
    // A hostNetwork pod's address is its node's: every Service of such pods publishes it.
    const resolver = inProcessResolver(Array.from({ length: 15 }, (_, i) => headlessService('default', `node-agent-${i}`, ['10.0.0.1'])).flat());
    const name = '1.0.0.10.in-addr.arpa';
    const whole = resolver.ask(name, 'PTR', { transport: 'tcp' });
    assert.equal(whole.answers?.length, 15);
    const request = buildQuery(name, 'PTR');
    const first = resolver.exchange(request, { transport: 'udp' });
    const cached = resolver.exchange(request, { transport: 'udp' });
    assert.ok(first !== null && first.length <= 512);
    assert.deepEqual(cached, first);
    const packet = decode(first);
    assert.equal(packet.flag_tc, true);
    // Whole records from the start while they fit.
    assert.ok((packet.answers?.length ?? 0) > 0 && (packet.answers?.length ?? 0) < 15);
    assert.deepEqual(packet.answers, whole.answers?.slice(0, packet.answers?.length));
    const roomy = resolver.ask(name, 'PTR', { transport: 'udp', udpSize: 1232 });
    assert.equal(roomy.flag_tc, false);
    assert.deepEqual(roomy.answers, whole.answers);
  });
});
