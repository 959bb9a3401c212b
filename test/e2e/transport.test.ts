/**
 * UDP and TCP, EDNS0, and truncation: what fits where, and how a client learns to retry over TCP;
 * the UDP answers through either UDP I/O (the batched addon and node:dgram).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RunningServer, UDP_IOS, skipUdpIo, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { addresses, asList, headlessService, namespaceObject } from '../helpers/objects.ts';
import { answerData, buildQuery, decode, dnsPacket, query, queryTcp, rcodeOf, tcpExchange, udpExchange } from '../helpers/dns-client.ts';

const big = addresses(1000);

for (const io of UDP_IOS) {
  describe(`through ${io} UDP I/O`, { skip: skipUdpIo(io) }, () => {
    let server: RunningServer;

    before(async () => {
      const objects = tempFile('objects.yaml', asList([namespaceObject('load'), ...headlessService('load', 'big', big), ...headlessService('load', 'small', addresses(3, 20))]));
      server = await startLbdns({ io, objects });
    });
    after(async () => {
      await server.stop();
    });

    describe('UDP without EDNS', () => {
      it('keeps answers within 512 bytes, sets TC and sends as many whole records as fit', async () => {
        const raw = await udpExchange(server.port, buildQuery('big.load.svc.cluster.local', 'A'));
        assert.ok(raw);
        assert.ok(raw.length <= 512, `reply is ${raw.length} bytes`);
        const reply = decode(raw);
        assert.ok(reply.flag_tc, 'TC set');
        assert.ok((reply.answers?.length ?? 0) > 20, 'the records that fit are sent');
        assert.equal(reply.additionals?.length ?? 0, 0, 'no OPT without EDNS in the query');
      });

      it('sends a small answer whole, without TC', async () => {
        const reply = await query(server.port, 'small.load.svc.cluster.local', 'A');
        assert.ok(!reply.flag_tc);
        assert.equal(reply.answers?.length, 3);
      });
    });

    describe('EDNS0', () => {
      it('echoes an OPT record advertising lbdns’s UDP size and honours the client size', async () => {
        const raw = await udpExchange(server.port, buildQuery('big.load.svc.cluster.local', 'A', { udpSize: 1232 }));
        assert.ok(raw && raw.length <= 1232 && raw.length > 512, `reply is ${raw?.length} bytes`);
        const reply = decode(raw);
        const opt = reply.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize: number } | undefined;
        assert.equal(opt?.udpPayloadSize, 1232);
        assert.ok(reply.flag_tc);
      });

      it('caps a larger client size at maxUdpSize', async () => {
        const raw = await udpExchange(server.port, buildQuery('big.load.svc.cluster.local', 'A', { udpSize: 65000 }));
        assert.ok(raw && raw.length <= 1232, `reply is ${raw?.length} bytes`);
      });

      it('raises a client size below 512 to 512', async () => {
        const raw = await udpExchange(server.port, buildQuery('big.load.svc.cluster.local', 'A', { udpSize: 100 }));
        assert.ok(raw && raw.length <= 512 && raw.length > 400, `reply is ${raw?.length} bytes`);
      });

      it('echoes the DO bit', async () => {
        const reply = await query(server.port, 'small.load.svc.cluster.local', 'A', { udpSize: 1232, dnssecOk: true });
        const opt = reply.additionals?.find((a) => a.type === 'OPT') as { flag_do?: boolean; flags?: number } | undefined;
        assert.ok(opt?.flag_do || ((opt?.flags ?? 0) & dnsPacket.DNSSEC_OK) !== 0);
      });

      it('answers BADVERS to an EDNS version it does not speak', async () => {
        const request = buildQuery('small.load.svc.cluster.local', 'A', { udpSize: 1232 });
        // The OPT record is last; its TTL's second byte is the version.
        request[request.length - 11 + 6] = 1;
        const raw = await udpExchange(server.port, request);
        assert.ok(raw);
        const reply = decode(raw);
        const opt = reply.additionals?.find((a) => a.type === 'OPT') as { extendedRcode?: number } | undefined;
        assert.equal(opt?.extendedRcode, 1, 'extended rcode 1 << 4 = 16 = BADVERS');
        assert.equal(reply.answers?.length, 0);
      });
    });

    describe('TCP', () => {
      it('returns the whole answer of a headless service with 1,000 endpoints', async () => {
        const reply = await queryTcp(server.port, 'big.load.svc.cluster.local', 'A');
        assert.ok(!reply.flag_tc);
        assert.equal(reply.answers?.length, 1000);
        assert.deepEqual(new Set(reply.answers?.map((a) => (a as { data: string }).data)), new Set(big));
      });

      it('answers pipelined queries on one connection, each with its own ID', async () => {
        const requests = ['small.load.svc.cluster.local', 'big.load.svc.cluster.local', 'nope.load.svc.cluster.local'].map((n) => buildQuery(n, 'A'));
        const replies = await tcpExchange(server.port, requests);
        assert.equal(replies.length, 3);
        replies.forEach((raw, i) => assert.equal(raw.readUInt16BE(0), requests[i]!.readUInt16BE(0)));
        assert.equal(rcodeOf(decode(replies[2]!)), 'NXDOMAIN');
      });

      it('handles a message split across writes, length prefix included', async () => {
        const { connect } = await import('node:net');
        const request = buildQuery('small.load.svc.cluster.local', 'A');
        const frame = Buffer.concat([Buffer.from([0, request.length]), request]);
        const reply = await new Promise<Buffer>((resolve, reject) => {
          const socket = connect({ port: server.port, host: '127.0.0.1' });
          let received = Buffer.alloc(0);
          socket.on('data', (chunk) => {
            received = Buffer.concat([received, chunk]);
            if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
              socket.end();
              resolve(received.subarray(2));
            }
          });
          socket.on('error', reject);
          socket.on('connect', async () => {
            for (const piece of [frame.subarray(0, 1), frame.subarray(1, 7), frame.subarray(7)]) {
              socket.write(piece);
              await new Promise((r) => setTimeout(r, 20));
            }
          });
        });
        assert.equal(decode(reply).answers?.length, 3);
      });
    });

    describe('ANY', () => {
      it('answers ANY with the RFC 8482 HINFO record, not everything the name has', async () => {
        const reply = await query(server.port, 'small.load.svc.cluster.local', 'ANY');
        assert.equal(reply.answers?.length, 1);
        assert.equal(reply.answers?.[0]?.type, 'HINFO');
        assert.deepEqual(reply.answers?.[0]?.data, { cpu: 'RFC8482', os: '' });
      });
    });
  });
}

describe('TCP limits', () => {
  it('closes a connection that trickles bytes slower than a message per idle timeout, and caps connections per client prefix', async () => {
    const { connect } = await import('node:net');
    const limited = await startLbdns({ config: tempFile('lbdns.yaml', 'tcp:\n  idleTimeoutMs: 800\n  maxConnectionsPerClient: 3\n') });
    try {
      const request = buildQuery('web.default.svc.cluster.local', 'A');
      const frame = Buffer.concat([Buffer.from([0, request.length]), request]);
      const started = performance.now();
      const closedAfter = await new Promise<number>((resolve) => {
        const socket = connect({ port: limited.port, host: '127.0.0.1' });
        let sent = 0;
        const drip = setInterval(() => {
          if (sent < frame.length && !socket.destroyed) socket.write(frame.subarray(sent, ++sent));
        }, 100);
        socket.on('close', () => {
          clearInterval(drip);
          resolve(performance.now() - started);
        });
        socket.on('error', () => undefined);
        socket.resume();
      });
      assert.ok(closedAfter < 3000, `closed after ${closedAfter.toFixed(0)} ms`);

      // Four addresses of one /24 are one client: the pods of a node share its budget.
      let closed = 0;
      const sockets = Array.from({ length: 4 }, (_, i) => {
        const socket = connect({ port: limited.port, host: '127.0.0.1', localAddress: `127.0.0.${i + 1}` });
        socket.on('error', () => undefined);
        socket.on('close', () => closed++);
        return socket;
      });
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(closed, 1, 'the fourth connection from one prefix is closed at once; three stay');
      for (const s of sockets) s.destroy();
    } finally {
      await limited.stop();
    }
  });
});

describe('TCP slots under a flood of connections', () => {
  let limited: RunningServer;
  before(async () => {
    // A long idle timeout: only lbdns's slot accounting can make room, not the timer.
    limited = await startLbdns({ config: tempFile('lbdns.yaml', 'tcp:\n  idleTimeoutMs: 60000\n  maxConnections: 8\n  maxConnectionsPerClient: 64\n') });
  });
  after(async () => {
    await limited.stop();
  });

  async function metric(line: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${limited.opsPort}/metrics`)).text();
    const found = text.split('\n').find((l) => l.startsWith(`${line} `));
    return found === undefined ? 0 : Number(found.slice(line.length + 1));
  }

  it('closes a connection that sends an empty frame instead of letting it reset the idle timer', async () => {
    const { connect } = await import('node:net');
    const closed = await new Promise<boolean>((resolve) => {
      const socket = connect({ port: limited.port, host: '127.0.0.1' }, () => socket.write(Buffer.from([0, 0])));
      const giveUp = setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, 5000);
      socket.on('close', () => {
        clearTimeout(giveUp);
        resolve(true);
      });
      socket.on('error', () => undefined);
      socket.resume();
    });
    assert.ok(closed, 'closed long before the 60 s idle timeout');
    assert.equal(await metric('lbdns_tcp_connections_closed_total{reason="malformed"}'), 1);
  });

  it('serves a client from another prefix, every time, while one /24 holds every slot with trickled queries', async () => {
    const { connect } = await import('node:net');
    const request = buildQuery('web.default.svc.cluster.local', 'A');
    const frame = Buffer.concat([Buffer.from([0, request.length]), request]);
    let stopped = false;
    let connects = 0;
    const answered = new Set<number>();
    const open = (slot: number): void => {
      // Bounded: the attack stops by itself whatever happens.
      if (stopped || ++connects > 300) return;
      const socket = connect({ port: limited.port, host: '127.0.0.1', localAddress: `127.0.1.${slot + 1}` }, () => socket.write(frame));
      const trickle = setInterval(() => socket.writable && socket.write(frame), 300);
      socket.on('data', () => answered.add(slot));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(trickle);
        answered.delete(slot);
        setTimeout(() => open(slot), 100);
      });
      attackers.push(socket);
    };
    const attackers: import('node:net').Socket[] = [];
    try {
      for (let slot = 0; slot < 8; slot++) open(slot);
      const { within } = await import('../helpers/wait.ts');
      for (let i = 0; i < 10; i++) {
        // Every query meets a server whose slots are all held by the attack.
        await within(10_000, async () => answered.size === 8);
        const reply = await queryTcp(limited.port, 'web.default.svc.cluster.local', 'A', { from: '127.0.2.1' });
        assert.deepEqual(answerData(reply, 'A'), ['10.96.0.20'], `query ${i + 1} over TCP from 127.0.2.1`);
      }
      assert.ok((await metric('lbdns_tcp_connections_closed_total{reason="evicted"}')) >= 10, 'room was made by evicting');
      assert.ok((await metric('lbdns_tcp_connections')) <= 8);
    } finally {
      stopped = true;
      for (const socket of attackers) socket.destroy();
    }
  });
});
