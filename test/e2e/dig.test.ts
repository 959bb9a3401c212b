/**
 * The README's dig session, run for real: every record kind of the demo cluster through `dig`,
 * a client that shares no code with lbdns. Also the NS naming when lbdns is its own kube-dns.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { type RunningServer, demoObjects, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { answerData, query } from '../helpers/dns-client.ts';
import { run, skipWithoutDig } from '../helpers/tools.ts';

const skip = skipWithoutDig;

let server: RunningServer;
before(async () => {
  server = await startLbdns();
});
after(async () => {
  await server.stop();
});

async function dig(...args: string[]): Promise<string[]> {
  const { stdout } = await run('dig', [`@127.0.0.1`, '-p', String(server.port), '+short', '+tries=1', '+time=2', ...args]);
  return stdout.trim().split('\n').filter(Boolean);
}

describe('dig against the demo cluster', { skip }, () => {
  it('A, AAAA, SRV, CNAME, PTR, TXT, SOA and NS', async () => {
    assert.deepEqual(await dig('web.default.svc.cluster.local', 'A'), ['10.96.0.20']);
    assert.deepEqual(await dig('api.default.svc.cluster.local', 'AAAA'), ['fd00:10:96::30']);
    assert.deepEqual(await dig('_http._tcp.web.default.svc.cluster.local', 'SRV'), ['0 100 80 web.default.svc.cluster.local.']);
    assert.deepEqual((await dig('db.default.svc.cluster.local', 'A')).sort(), ['10.244.0.21', '10.244.1.22']);
    assert.deepEqual(await dig('payments.shop.svc.cluster.local', 'CNAME'), ['payments.example.com.']);
    assert.deepEqual(await dig('-x', '10.96.0.20'), ['web.default.svc.cluster.local.']);
    assert.deepEqual(await dig('-x', 'fd00:10:96::30'), ['api.default.svc.cluster.local.']);
    assert.deepEqual(await dig('dns-version.cluster.local', 'TXT'), ['"1.1.0"']);
    assert.match((await dig('cluster.local', 'SOA'))[0] ?? '', /^ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. \d+ 7200 1800 86400 5$/);
    assert.deepEqual(await dig('cluster.local', 'NS'), ['ns.dns.cluster.local.']);
    assert.deepEqual(await dig('10-244-0-11.default.pod.cluster.local', 'A'), ['10.244.0.11']);
  });

  it('falls back to TCP by itself when a headless answer is truncated', async () => {
    const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(server.port), '+noedns', '+tries=1', 'workers.shop.svc.cluster.local', 'A']);
    assert.match(stdout, /ANSWER: 4,/);
  });
});

describe('the NS record when lbdns serves as kube-dns', () => {
  it('names the kube-dns Service, with its ClusterIP as glue, when an endpoint is this server', async () => {
    const list = parse(readFileSync(demoObjects, 'utf8')) as { items: Array<{ kind: string; metadata: { name: string }; endpoints?: Array<{ addresses: string[] }> }> };
    const slice = list.items.find((i) => i.kind === 'EndpointSlice' && i.metadata.name.startsWith('kube-dns'))!;
    slice.endpoints![0]!.addresses = ['127.0.0.1'];
    const own = await startLbdns({ objects: tempFile('objects.yaml', stringify(list)) });
    try {
      const reply = await query(own.port, 'cluster.local', 'NS');
      assert.deepEqual(answerData(reply, 'NS'), ['kube-dns.kube-system.svc.cluster.local']);
      const glue = (reply.additionals ?? []).filter((a) => a.type === 'A').map((a) => [a.name, (a as { data: string }).data]);
      assert.deepEqual(glue, [['kube-dns.kube-system.svc.cluster.local', '10.96.0.10']]);
    } finally {
      await own.stop();
    }
  });
});
