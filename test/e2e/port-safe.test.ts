/**
 * Port-safe endpoint mode through the real CLI and `dig`: the demo's kubernetes.default (port 443
 * → targetPort 6443, like every cluster's) keeps its ClusterIP in A answers when endpoint mode is
 * on for every Service, SRV gives the API server's 6443, /debug/balance and
 * lbdns_port_mismatch_services say why, and the warning comes when a settings reload switches
 * endpoint mode on, not only at start.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { run, skipWithoutDig } from '../helpers/tools.ts';

const skip = skipWithoutDig;

const WARNING = 'Service in endpoint mode maps a port to another target port: its A/AAAA records stay the ClusterIP (SRV gives the endpoint ports)';

let server: RunningServer;
let settingsPath: string;
before(async () => {
  settingsPath = tempFile('lbdns.yaml', 'ttl: 5\n');
  server = await startLbdns({ config: settingsPath });
});
after(async () => {
  await server.stop();
});

async function dig(...args: string[]): Promise<string[]> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(server.port), '+short', '+tries=1', '+time=2', ...args]);
  return stdout.trim().split('\n').filter(Boolean);
}

async function mismatchGauge(): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
  return text.split('\n').filter((line) => line.startsWith('lbdns_port_mismatch_services{'));
}

describe('kubernetes.default when a reload turns endpoint mode on for every Service', { skip }, () => {
  it('answers the ClusterIP before, says nothing and counts nothing', async () => {
    assert.deepEqual(await dig('kubernetes.default.svc.cluster.local', 'A'), ['10.96.0.1']);
    assert.equal(server.logs.filter((l) => l.msg === WARNING).length, 0);
    assert.deepEqual(await mismatchGauge(), ['lbdns_port_mismatch_services{answer="clusterIP"} 0', 'lbdns_port_mismatch_services{answer="endpoints"} 0']);
  });

  it('warns about the Services it keeps on their ClusterIP once the reload is in', async () => {
    writeFileSync(settingsPath, 'ttl: 5\nbalance:\n  answer: endpoints\n');
    server.process.kill('SIGHUP');
    const line = await server.waitForLog((l) => l.msg === WARNING && l.service === 'default/kubernetes');
    assert.deepEqual(line.ports, [{ name: 'https', port: 443, targetPort: 6443 }]);
    // The demo's web (80 → 8080, 443 → 8443) too; its api maps nothing and is not named.
    await server.waitForLog((l) => l.msg === WARNING && l.service === 'default/web');
    assert.ok(!server.logs.some((l) => l.msg === WARNING && l.service === 'default/api'));
  });

  it('A still answers the ClusterIP; SRV gives the API server at 6443; a Service without mapping answers its endpoints', async () => {
    assert.deepEqual(await dig('kubernetes.default.svc.cluster.local', 'A'), ['10.96.0.1']);
    assert.deepEqual(await dig('_https._tcp.kubernetes.default.svc.cluster.local', 'SRV'), ['0 65535 6443 172-18-0-2.kubernetes.default.svc.cluster.local.']);
    assert.deepEqual(await dig('api.default.svc.cluster.local', 'A'), ['10.244.0.31']);
  });

  it('/debug/balance says why, and the gauge counts them', async () => {
    const body = (await (await fetch(`http://127.0.0.1:${server.debugPort}/debug/balance?name=kubernetes.default.svc.cluster.local`)).json()) as Record<string, unknown>;
    assert.equal(body.answer, 'clusterIP');
    assert.equal(body.srvAnswer, 'endpoints');
    assert.match(String(body.answerReason), /target port/);
    assert.deepEqual(body.portMappings, [{ name: 'https', port: 443, targetPort: 6443 }]);
    assert.deepEqual(await mismatchGauge(), ['lbdns_port_mismatch_services{answer="clusterIP"} 2', 'lbdns_port_mismatch_services{answer="endpoints"} 0']);
  });
});

describe('lbdns.io/ignore-target-port: "true"', { skip }, () => {
  it('answers endpoints anyway, with a warning', async () => {
    const objects = tempFile(
      'objects.yaml',
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: 'kubernetes', namespace: 'default', annotations: { 'lbdns.io/answer': 'endpoints', 'lbdns.io/ignore-target-port': 'true' } },
            spec: { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] },
          },
          {
            apiVersion: 'discovery.k8s.io/v1',
            kind: 'EndpointSlice',
            metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes' } },
            addressType: 'IPv4',
            endpoints: [{ addresses: ['172.18.0.2'], conditions: { ready: true } }],
            ports: [{ name: 'https', port: 6443, protocol: 'TCP' }],
          },
        ],
      }),
    );
    const forced = await startLbdns({ objects, config: tempFile('lbdns.yaml', '{}\n') });
    try {
      const line = await forced.waitForLog((l) => l.service === 'default/kubernetes' && String(l.msg).includes('asks for endpoint addresses anyway'));
      assert.equal(line.level, 40);
      const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(forced.port), '+short', '+tries=1', '+time=2', 'kubernetes.default.svc.cluster.local', 'A']);
      assert.equal(stdout.trim(), '172.18.0.2');
      const text = await (await fetch(`http://127.0.0.1:${forced.opsPort}/metrics`)).text();
      assert.match(text, /^lbdns_port_mismatch_services\{answer="endpoints"\} 1$/m);
    } finally {
      await forced.stop();
    }
  });
});
