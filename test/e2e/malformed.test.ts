/**
 * Hostile and broken input: random bytes, truncated packets, wrong counts, compression loops,
 * responses, other opcodes. Every one gets FORMERR/NOTIMP or silence, never a crash, through
 * either UDP I/O (the batched addon and node:dgram).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { type RunningServer, UDP_IOS, skipUdpIo, startLbdns } from '../helpers/lbdns-process.ts';
import { seededRandom as prng } from '../helpers/random.ts';
import { pacedUdp } from '../helpers/paced-udp.ts';
import { buildQuery, decode, dnsPacket, query, rcodeOf, udpExchange } from '../helpers/dns-client.ts';

for (const io of UDP_IOS) {
  describe(`through ${io} UDP I/O`, { skip: skipUdpIo(io) }, () => {
    let server: RunningServer;

    before(async () => {
      server = await startLbdns({ io });
    });
    after(async () => {
      await server.stop();
    });


    function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
      const out = Buffer.alloc(12);
      out.writeUInt16BE(id, 0);
      out.writeUInt16BE(flags, 2);
      out.writeUInt16BE(qd, 4);
      out.writeUInt16BE(an, 6);
      out.writeUInt16BE(ns, 8);
      out.writeUInt16BE(ar, 10);
      return out;
    }

    const rcode = (reply: Buffer) => reply.readUInt16BE(2) & 0xf;

    describe('malformed queries', () => {
      it('answers FORMERR when the header is readable but the question is not', async () => {
        const cases: Array<[string, Buffer]> = [
          ['no question', header(1, 0x0100, 0)],
          ['two questions', Buffer.concat([header(2, 0x0100, 2), buildQuery('web.default.svc.cluster.local', 'A').subarray(12), buildQuery('web.default.svc.cluster.local', 'A').subarray(12)])],
          ['question cut short', Buffer.concat([header(3, 0x0100, 1), Buffer.from([3, 0x77, 0x65])])],
          ['no type and class', Buffer.concat([header(4, 0x0100, 1), Buffer.from([3, 0x77, 0x65, 0x62, 0])])],
          ['compression loop', Buffer.concat([header(5, 0x0100, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])])],
          ['reserved label type', Buffer.concat([header(6, 0x0100, 1), Buffer.from([0x41, 0, 0, 1, 0, 1])])],
          ['label past the end', Buffer.concat([header(7, 0x0100, 1), Buffer.from([40, 0x61, 0, 1, 0, 1])])],
          ['additional count with nothing there', Buffer.concat([buildQuery('web.default.svc.cluster.local', 'A').subarray(0, 10), Buffer.from([0, 3]), buildQuery('web.default.svc.cluster.local', 'A').subarray(12)])],
          ['two OPT records', (() => {
            const q = buildQuery('web.default.svc.cluster.local', 'A', { udpSize: 1232 });
            const opt = q.subarray(q.length - 11);
            const out = Buffer.concat([q, opt]);
            out.writeUInt16BE(2, 10);
            return out;
          })()],
        ];
        for (const [what, packet] of cases) {
          const reply = await udpExchange(server.port, packet);
          assert.ok(reply, `${what}: a reply`);
          assert.equal(rcode(reply), 1, `${what}: FORMERR`);
          assert.equal(reply.readUInt16BE(0), packet.readUInt16BE(0), `${what}: the query's ID`);
          assert.ok(reply.readUInt16BE(2) & 0x8000, `${what}: QR set`);
        }
      });

      it('answers NOTIMP for opcodes other than QUERY', async () => {
        const request = buildQuery('web.default.svc.cluster.local', 'A');
        request.writeUInt16BE(0x2000 | 0x0100, 2); // opcode 4, NOTIFY
        const reply = await udpExchange(server.port, request);
        assert.ok(reply);
        assert.equal(rcode(reply), 4);
        assert.equal(decode(reply).questions?.[0]?.name, 'web.default.svc.cluster.local');
      });

      it('never answers a response (QR set) or a packet shorter than a header', async () => {
        const response = buildQuery('web.default.svc.cluster.local', 'A');
        response.writeUInt16BE(0x8100, 2);
        assert.equal(await udpExchange(server.port, response, 500), null);
        assert.equal(await udpExchange(server.port, Buffer.from([1, 2, 3, 4, 5]), 500), null);
      });

      it('survives 5,000 random, truncated and mutated packets and still answers', async () => {
        const random = prng(20261125);
        const valid = buildQuery('web.default.svc.cluster.local', 'A', { udpSize: 1232 });
        const packets: Buffer[] = [];
        for (let i = 0; i < 5000; i++) {
          const kind = i % 4;
          if (kind === 0) {
            packets.push(Buffer.from(Array.from({ length: Math.floor(random() * 600) }, () => Math.floor(random() * 256))));
          } else if (kind === 1) {
            packets.push(Buffer.from(valid.subarray(0, Math.floor(random() * valid.length))));
          } else {
            const mutated = Buffer.from(valid);
            for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256);
            if (kind === 3) mutated[2] = (mutated[2] as number) & 0x7f; // keep it a query so it reaches the parser
            packets.push(mutated);
          }
        }
        const replies = await pacedUdp(server.port, packets);
        // Seeded: the same packets every run, and every one reaches lbdns, so the count is fixed
        // (less the few whose mutated name went upstream, where nothing answers).
        assert.ok(replies.length > 1000, `some packets are answered (${replies.length})`);
        for (const reply of replies) {
          assert.ok(reply.length >= 12 && reply.readUInt16BE(2) & 0x8000, 'every reply is a response');
          assert.ok(reply.length <= 1232, 'no reply exceeds the UDP limit');
        }
        assert.equal(server.process.exitCode, null, 'still running');
        const check = await query(server.port, 'web.default.svc.cluster.local', 'A');
        assert.equal(rcodeOf(check), 'NOERROR');
        assert.equal(server.logs.filter((l) => l.msg === 'query handling failed').length, 0, 'no query threw');
      });

      it('survives garbage over TCP and keeps serving other connections', async () => {
        await new Promise<void>((resolve) => {
          const socket = connect({ port: server.port, host: '127.0.0.1' }, () => {
            socket.write(Buffer.from([0, 5, 1, 2, 3, 4, 5, 0xff, 0xff, 1, 2]));
            socket.end();
          });
          socket.on('close', () => resolve());
          socket.on('error', () => resolve());
          socket.resume();
        });
        const check = await query(server.port, 'web.default.svc.cluster.local', 'A');
        assert.equal(rcodeOf(check), 'NOERROR');
      });
    });

    describe('response rate limiting', () => {
      it('drops identical UDP responses beyond the rate for one client prefix, slips some as TC, and spares TCP and other clients', async () => {
        const { startLbdns: start, tempFile } = await import('../helpers/lbdns-process.ts');
        const { tcpExchange } = await import('../helpers/dns-client.ts');
        const limited = await start({ io, config: tempFile('lbdns.yaml', 'rateLimit:\n  responsesPerSecond: 5\n  slip: 2\n  clusterZones: true\n') });
        try {
          const request = buildQuery('web.default.svc.cluster.local', 'A');
          // 30 identical queries in one burst from one socket, each with its own ID; then every reply
          // is waited for, so a slow machine changes when replies come, not how many are counted.
          const socket = createSocket('udp4');
          const replies = new Map<number, Buffer>();
          socket.on('message', (reply) => replies.set(reply.readUInt16BE(0), reply));
          await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
          for (let id = 1; id <= 30; id++) {
            const copy = Buffer.from(request);
            copy.writeUInt16BE(id, 0);
            socket.send(copy, limited.port, '127.0.0.1');
          }
          const metricsText = async () => (await fetch(`http://127.0.0.1:${limited.opsPort}/metrics`)).text();
          const heldBack = (text: string) => ['dropped', 'slipped'].reduce((sum, action) => sum + Number(new RegExp(`^lbdns_rate_limited_responses_total\\{action="${action}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0), 0);
          // Every query is accounted for once lbdns has answered, slipped or dropped all 30.
          for (let tries = 0; tries < 200; tries++) {
            const answered = [...replies.values()].filter((r) => !(r.readUInt16BE(2) & 0x0200)).length;
            if (answered + heldBack(await metricsText()) >= 30) break;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          await new Promise((resolve) => setTimeout(resolve, 200));
          socket.close();
          const full = [...replies.values()].filter((r) => !(r.readUInt16BE(2) & 0x0200)).length;
          const truncated = [...replies.values()].filter((r) => r.readUInt16BE(2) & 0x0200).length;
          const dropped = 30 - replies.size;
          assert.ok(full >= 5 && full <= 12, `full answers: ${full}`);
          assert.ok(truncated >= 5, `truncated (slipped): ${truncated}`);
          assert.ok(dropped >= 5, `dropped: ${dropped}`);
          const [overTcp] = await tcpExchange(limited.port, [request]);
          assert.equal(decode(overTcp!).answers?.length, 1, 'TCP is never limited');
          const other = await udpExchange(limited.port, request, 500, '127.0.0.1', '127.0.9.1');
          assert.ok(other && !(other.readUInt16BE(2) & 0x0200), 'another prefix has its own budget');
          const metrics = await metricsText();
          assert.match(metrics, new RegExp(`^lbdns_rate_limited_responses_total\\{action="dropped"\\} ${dropped}$`, 'm'));
        } finally {
          await limited.stop();
        }
      });
    });
  });
}
