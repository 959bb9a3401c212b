/**
 * Datagrams from sources no well-behaved client has: UDP source port 0, which no reply can be
 * sent to. lbdns drops such a reply and counts it; the serving thread, and the process, live on.
 * The datagrams come from a raw socket (root and python3), on IPv4 and IPv6, to a cluster name
 * (answered at once) and a forwarded one (answered when the upstream replies), through either UDP
 * I/O (the batched addon and node:dgram).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RunningServer, UDP_IOS, skipUdpIo } from '../helpers/lbdns-process.ts';
import { buildQuery, decode, rcodeOf, udpExchange } from '../helpers/dns-client.ts';
import { type DualStackLbdns, UPSTREAM_ANSWER, startDualStackLbdns } from '../helpers/dual-stack-lbdns.ts';
import { sendRawUdp } from '../helpers/raw-udp.ts';
import { within } from '../helpers/wait.ts';

async function metricValue(server: RunningServer, line: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

const running = (server: RunningServer): boolean => server.process.exitCode === null && server.process.signalCode === null;

for (const [io, workers] of UDP_IOS.flatMap((io) => [1, 2].map((workers) => [io, workers] as const))) {
  describe(`a UDP query from source port 0 (io: ${io}, workers: ${workers})`, { skip: skipUdpIo(io) }, () => {
    let lbdns: DualStackLbdns;
    let server: RunningServer;
    let port6: number;

    before(async () => {
      lbdns = await startDualStackLbdns({ io, workers });
      ({ server, port6 } = lbdns);
    });
    after(() => lbdns.stop());

    const cases = [
      { from: '127.0.0.1', to: '127.0.0.1', name: 'web.default.svc.cluster.local' },
      { from: '::1', to: '::1', name: 'web.default.svc.cluster.local' },
      { from: '127.0.0.1', to: '127.0.0.1', name: 'ipv4.example.test' },
      { from: '::1', to: '::1', name: 'ipv6.example.test' },
    ];
    let dropped = 0;
    for (const { from, to, name } of cases) {
      it(`drops the reply to [${from}]:0 for ${name} and keeps serving`, async () => {
        const port = to === '::1' ? port6 : server.port;
        await sendRawUdp({ from, sourcePort: 0, to, port, payload: buildQuery(name, 'A') });
        dropped++;
        // The drop is counted once the reply is ready; a thread that died never counts it.
        await within(10_000, async () => !running(server) || (await metricValue(server, 'lbdns_udp_send_errors_total{reason="port_zero"}')) >= dropped, 50);
        assert.ok(running(server), `lbdns exited; stderr:\n${server.stderr()}`);
        assert.equal(await metricValue(server, 'lbdns_udp_send_errors_total{reason="port_zero"}'), dropped);
        for (let i = 0; i < 2 * workers; i++) {
          const answer = await udpExchange(port, buildQuery('web.default.svc.cluster.local', 'A'), 2000, to);
          assert.ok(answer, 'a normal query is still answered');
          assert.equal(rcodeOf(decode(answer)), 'NOERROR');
        }
      });
    }
  });
}
