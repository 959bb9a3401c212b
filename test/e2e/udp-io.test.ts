/**
 * The two UDP I/O paths (`io`: the batched addon, native/udp_batch.cc, and node:dgram) serve the
 * same: repeat queries (answered by the addon itself when batched), fuzzed packets through the socket, a burst of clients on IPv4 and IPv6 each answered at
 * its own address, a query larger than any reply, answers that wait for an upstream, replies a
 * slow link cannot take at once. And what `io` does when the addon cannot be loaded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { type RunningServer, UDP_IOS, projectRoot, skipUdpIo, startLbdns } from '../helpers/lbdns-process.ts';
import { answerData, buildQuery, decode, query, rcodeOf, udpExchange } from '../helpers/dns-client.ts';
import { type DualStackLbdns, UPSTREAM_ANSWER, startDualStackLbdns } from '../helpers/dual-stack-lbdns.ts';
import { structured } from '../helpers/hostile-packets.ts';
import { pacedUdp } from '../helpers/paced-udp.ts';
import { run, skipWithoutNamespaces } from '../helpers/tools.ts';

const WEB = 'web.default.svc.cluster.local';

for (const io of UDP_IOS) {
  describe(`through ${io} UDP I/O`, { skip: skipUdpIo(io) }, () => {
    let running: DualStackLbdns;
    let server: RunningServer;
    let port6: number;

    before(async () => {
      running = await startDualStackLbdns({ io });
      ({ server, port6 } = running);
    });
    after(() => running.stop());

    it('says which UDP I/O it uses, in one line and in /metrics', async () => {
      const lines = server.logs.filter((line) => line.msg.startsWith('UDP through'));
      assert.deepEqual(
        lines.map((line) => line.io),
        [io],
      );
      const metrics = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
      assert.deepEqual(
        metrics.split('\n').filter((line) => line.startsWith('lbdns_udp_io{')),
        [`lbdns_udp_io{io="batch"} ${io === 'batch' ? 1 : 0}`, `lbdns_udp_io{io="dgram"} ${io === 'dgram' ? 1 : 0}`],
      );
    });

    it('answers fuzzed packets with well-formed replies or nothing, and serves on', async () => {
      const packets = [...fc.sample(structured, { numRuns: 600, seed: 7 }), ...fc.sample(fc.uint8Array({ maxLength: 700 }), { numRuns: 300, seed: 42 })].map((p) => Buffer.from(p));
      const ids = new Set(packets.filter((p) => p.length >= 2).map((p) => p.readUInt16BE(0)));
      const replies = await pacedUdp(server.port, packets);
      assert.ok(replies.length > 100, `only ${replies.length} replies: the packets tested little`);
      for (const bytes of replies) {
        assert.ok(bytes.length >= 12 && bytes.length <= 1232, `a reply of ${bytes.length} bytes`);
        assert.ok(bytes.readUInt16BE(2) & 0x8000, 'QR is set');
        assert.ok(ids.has(bytes.readUInt16BE(0)), 'the ID of a packet sent');
        assert.doesNotThrow(() => decode(bytes), 'every reply parses');
      }
      assert.deepEqual(answerData(await query(server.port, WEB, 'A'), 'A'), ['10.96.0.20']);
    });

    it('answers each client of a burst at its own address and port, IPv4 and IPv6, small and large', async () => {
      const clients = [
        ...Array.from({ length: 24 }, (_, i) => ({ host: '127.0.0.1', from: `127.0.${1 + (i % 3)}.${10 + i}`, id: 100 + i })),
        ...Array.from({ length: 8 }, (_, i) => ({ host: '::1', from: '::1', id: 200 + i })),
      ];
      // Odd ones ask with EDNS and an NSID option: a larger query and a larger reply.
      const asked = clients.map(({ id }) => {
        const request = buildQuery(WEB, 'A', id % 2 ? { udpSize: 1232, ednsOptions: [{ code: 3, data: Buffer.alloc(0) }] } : {});
        request.writeUInt16BE(id, 0);
        return request;
      });
      const replies = await Promise.all(clients.map(({ host, from }, i) => udpExchange(host === '::1' ? port6 : server.port, asked[i]!, 5000, host, from)));
      replies.forEach((bytes, i) => {
        assert.ok(bytes, `client ${i} (${clients[i]!.from}) is answered`);
        assert.equal(bytes.readUInt16BE(0), clients[i]!.id, 'its own reply');
        const packet = decode(bytes);
        assert.deepEqual(answerData(packet, 'A'), ['10.96.0.20']);
        assert.equal((packet.additionals ?? []).some((r) => r.type === 'OPT'), clients[i]!.id % 2 === 1, 'EDNS in the reply as in the query');
      });
    });

    it('answers a repeat query with the bytes of its first answer, from the addon when batched, counted alike', async () => {
      const metric = async (pattern: RegExp) => {
        const text = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
        return text
          .split('\n')
          .filter((line) => pattern.test(line))
          .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
      };
      const names: Array<[string, string]> = [
        [WEB, 'A'],
        ['Web.Default.SVC.cluster.local', 'A'],
        [WEB, 'AAAA'],
        [`_http._tcp.${WEB}`, 'SRV'],
        ['20.0.96.10.in-addr.arpa', 'PTR'],
        ['absent.default.svc.cluster.local', 'A'],
        ['kube-dns.kube-system.svc.cluster.local', 'A'],
      ];
      const shapes = [{}, { udpSize: 512 }, { udpSize: 1232, dnssecOk: true }];
      const nativeBefore = await metric(/^lbdns_native_answers_total /);
      const requestsBefore = await metric(/^coredns_dns_requests_total\{.*proto="udp"/);
      let repeats = 0;
      for (const [name, type] of names) {
        for (const shape of shapes) {
          const request = buildQuery(name, type, shape);
          const first = await udpExchange(server.port, request, 5000);
          const again = await udpExchange(server.port, request, 5000);
          assert.ok(first && again, `${name} ${type} answered`);
          assert.deepEqual(again, first, `${name} ${type} ${JSON.stringify(shape)}: the same bytes`);
          repeats++;
        }
      }
      const native = (await metric(/^lbdns_native_answers_total /)) - nativeBefore;
      // Batched, every repeat is the addon's (and a first ask too, when an earlier test asked it); through dgram, none.
      if (io === 'batch') assert.ok(native >= repeats && native <= 2 * repeats, `${native} answered by the addon of ${2 * repeats}`);
      else assert.equal(native, 0);
      assert.equal((await metric(/^coredns_dns_requests_total\{.*proto="udp"/)) - requestsBefore, 2 * repeats, 'every query counted once');
    });

    it('answers a query larger than any reply (a 4,000-byte padding option)', async () => {
      const request = buildQuery(WEB, 'A', { udpSize: 1232, ednsOptions: [{ code: 12, data: Buffer.alloc(4000) }] });
      const bytes = await udpExchange(server.port, request, 5000);
      assert.ok(bytes);
      assert.equal(rcodeOf(decode(bytes)), 'NOERROR');
      assert.deepEqual(answerData(decode(bytes), 'A'), ['10.96.0.20']);
    });

    it('sends an answer that waited for an upstream to the client that asked, IPv4 and IPv6', async () => {
      for (const [host, port] of [['127.0.0.1', server.port], ['::1', port6]] as const) {
        const bytes = await udpExchange(port, buildQuery(`waited-${io}.example.test`, 'A'), 5000, host);
        assert.ok(bytes, `answered over ${host}`);
        assert.deepEqual(answerData(decode(bytes), 'A'), [UPSTREAM_ANSWER]);
      }
    });
  });
}

for (const io of UDP_IOS) {
  describe(`replies that meet a full send buffer, through ${io} UDP I/O`, { skip: skipUdpIo(io) || skipWithoutNamespaces }, () => {
    it('wait until the link takes them: every query lbdns read is answered', async () => {
      // test/helpers/slow-link-netns.sh: a client behind a 256 kbit/s link asks 1,000 questions at 1,000/s.
      const work = mkdtempSync(join(tmpdir(), 'lbdns-slow-link-'));
      await run('unshare', ['--mount', '--net', '--fork', 'bash', join(projectRoot, 'test/helpers/slow-link-netns.sh')], {
        env: { ...process.env, NODE: process.execPath, LBDNS: join(projectRoot, 'bin/lbdns.js'), OBJECTS: join(projectRoot, 'config/demo-cluster.yaml'), IO: io, WORK: work, QUERIES: '1000' },
        timeout: 120_000,
      });
      const client = JSON.parse(readFileSync(join(work, 'client.json'), 'utf8')) as { answered: number; sndbufErrors: number };
      const lbdns = JSON.parse(readFileSync(join(work, 'lbdns.json'), 'utf8')) as { requests: number; failed: number };
      assert.ok(client.sndbufErrors > 0, 'the link held replies back until the send buffer was full: what this tests');
      assert.equal(lbdns.failed, 0, 'no reply given up');
      assert.equal(client.answered, lbdns.requests, 'every query read was answered');
    });
  });
}

describe('a checkout whose addon is not built', () => {
  // A copy of the sources without build/: the package's own loader finds no addon there.
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'lbdns-no-addon-'));
    for (const part of ['bin', 'src', 'config', 'package.json']) cpSync(join(projectRoot, part), join(root, part), { recursive: true });
    symlinkSync(join(projectRoot, 'node_modules'), join(root, 'node_modules'));
  });

  it('serves through node:dgram with io: auto, saying why in one line', async () => {
    const server = await startLbdns({ root, io: 'auto' });
    try {
      const lines = server.logs.filter((line) => line.msg.startsWith('UDP through'));
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!.io, 'dgram');
      assert.match(String(lines[0]!.reason), /No native build was found/);
      const metrics = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
      assert.match(metrics, /^lbdns_udp_io\{io="dgram"\} 1$/m);
      assert.deepEqual(answerData(await query(server.port, WEB, 'A'), 'A'), ['10.96.0.20']);
    } finally {
      await server.stop();
    }
  });

  it('will not start with io: batch, and says the setting', async () => {
    const server = await startLbdns({ root, io: 'batch', waitUntilServing: false });
    // 'close': the process has exited and its log is read to the end.
    const code = await new Promise((resolve) => server.process.once('close', resolve));
    assert.equal(code, 1);
    const fatal = server.logs.filter((line) => line.level === 60);
    assert.equal(fatal.length, 1, server.stderr());
    assert.match(fatal[0]!.msg, /^io: batch, but the batched UDP I\/O addon cannot be loaded/);
    assert.ok(!server.logs.some((line) => line.msg === 'serving DNS over UDP and TCP'));
  });
});
