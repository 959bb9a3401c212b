/**
 * lbdns started the way the kubeadm coredns Deployment starts CoreDNS (`-conf Corefile`), on
 * kubeadm's default Corefile with its ports moved to free loopback ports and a stub-domain block
 * added: cluster names, a stub domain and other names answer through `dig`, the probe and
 * metrics ports answer, a change to the Corefile is applied live, and a Corefile lbdns cannot
 * serve stops it with the plugin and line named.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { type RunningServer, freePort, projectRoot, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { StubUpstream, reply } from '../helpers/stub-upstream.ts';
import { join } from 'node:path';
import { within } from '../helpers/wait.ts';
import { run, skipWithoutDig } from '../helpers/tools.ts';

/** As kubelet updates a mounted ConfigMap: the new version appears whole. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.new`, text);
  renameSync(`${path}.new`, path);
}

/** Waits (bounded) until dig gives `expected`, for a change that is applied in the background. */
async function digUntil(port: number, name: string, type: string, expected: string[]): Promise<void> {
  let last: string[] = [];
  try {
    await within(10_000, async () => JSON.stringify((last = await dig(port, name, type))) === JSON.stringify(expected), 100);
  } catch {
    assert.deepEqual(last, expected);
  }
}

const skip = skipWithoutDig;

const fixtures = join(projectRoot, 'test/settings/corefiles');

/** An upstream answering A queries with `address` (TTL 60) and everything else NXDOMAIN. */
function answering(address: string): Promise<StubUpstream> {
  return StubUpstream.start((q) => {
    const question = q.questions![0]!;
    if (question.type !== 'A') return [{ bytes: reply(q, { rcode: 'NXDOMAIN' }) }];
    return [{ bytes: reply(q, { answers: [{ type: 'A', name: question.name, ttl: 60, data: address }] }) }];
  });
}

interface Ports {
  dns: number;
  health: number;
  ready: number;
  metrics: number;
}

/** kubeadm's Corefile with loopback ports, the given upstream, and `extra` blocks after it. */
function kubeadmCorefile(ports: Ports, upstream: number, extra: string, insideRoot = ''): string {
  const text = readFileSync(join(fixtures, 'kubeadm-1.32.Corefile'), 'utf8')
    .replace('.:53 {', `.:${ports.dns} {\n    bind 127.0.0.1${insideRoot}`)
    .replace('health {', `health 127.0.0.1:${ports.health} {`)
    .replace(/^( *)ready$/m, `$1ready 127.0.0.1:${ports.ready}`)
    .replace('prometheus :9153', `prometheus 127.0.0.1:${ports.metrics}`)
    .replace('forward . /etc/resolv.conf', `forward . 127.0.0.1:${upstream}`);
  return `${text}${extra}`;
}

async function dig(port: number, ...args: string[]): Promise<string[]> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+noall', '+answer', '+tries=1', '+time=2', ...args]);
  return stdout.trim().split('\n').filter(Boolean).map((line) => line.split(/\s+/).join(' '));
}

async function freePorts(): Promise<Ports> {
  return { dns: await freePort(), health: await freePort(), ready: await freePort(), metrics: await freePort() };
}

describe('lbdns -conf Corefile (the coredns Deployment with only its image changed)', { skip }, () => {
  let general: StubUpstream;
  let corp: StubUpstream;
  let server: RunningServer;
  let ports: Ports;
  let hostsFile: string;

  before(async () => {
    general = await answering('192.0.2.50');
    corp = await answering('192.0.2.51');
    ports = await freePorts();
    hostsFile = tempFile('NodeHosts', '192.0.2.78 node-1 # from the file\nfd00::78 node-1\n');
    const hosts = `\n    hosts ${hostsFile} {\n        192.0.2.77 legacy.example legacy\n        ttl 60\n        fallthrough\n    }`;
    const corefile = tempFile('Corefile', kubeadmCorefile(ports, general.port, `corp.example:${ports.dns} {\n    errors\n    cache 30\n    forward . 127.0.0.1:${corp.port}\n}\n`, hosts));
    server = await startLbdns({ config: null, upstream: null, listenFlags: false, port: ports.dns, opsPort: ports.metrics, args: ['-conf', corefile] });
  });
  after(async () => {
    await server?.stop();
    await Promise.all([general?.close(), corp?.close()]);
  });

  it('answers a cluster name with the Corefile’s kubernetes ttl', async () => {
    assert.deepEqual(await dig(ports.dns, 'web.default.svc.cluster.local', 'A'), ['web.default.svc.cluster.local. 30 IN A 10.96.0.20']);
  });

  it('sends a stub domain’s names to its own upstream, and other names to the root block’s', async () => {
    // TTL 60 upstream, capped at 30 by the Corefile's "cache 30".
    assert.deepEqual(await dig(ports.dns, 'intranet.corp.example', 'A'), ['intranet.corp.example. 30 IN A 192.0.2.51']);
    assert.deepEqual(await dig(ports.dns, 'www.example.org', 'A'), ['www.example.org. 30 IN A 192.0.2.50']);
    assert.equal(corp.queries.filter((q) => q.name === 'intranet.corp.example').length, 1);
    assert.equal(general.queries.some((q) => q.name === 'intranet.corp.example'), false);
  });

  it('answers the hosts plugin’s inline entries and hosts file, and PTR for their addresses', async () => {
    assert.deepEqual(await dig(ports.dns, 'legacy.example', 'A'), ['legacy.example. 60 IN A 192.0.2.77']);
    assert.deepEqual(await dig(ports.dns, 'node-1', 'A'), ['node-1. 60 IN A 192.0.2.78']);
    assert.deepEqual(await dig(ports.dns, 'node-1', 'AAAA'), ['node-1. 60 IN AAAA fd00::78']);
    assert.deepEqual(await dig(ports.dns, '-x', '192.0.2.77'), ['77.2.0.192.in-addr.arpa. 60 IN PTR legacy.example.', '77.2.0.192.in-addr.arpa. 60 IN PTR legacy.']);
    // A listed name has no other type: NODATA, not a forwarded query (as CoreDNS's hosts).
    const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(ports.dns), '+tries=1', '+time=2', 'legacy.example', 'MX']);
    assert.match(stdout, /status: NOERROR/);
    assert.match(stdout, /ANSWER: 0,/);
    assert.equal(general.queries.some((q) => q.name === 'legacy.example'), false);
  });

  it('reads the hosts file again when it changes, in a folder of its own (as a second ConfigMap would be)', async () => {
    replaceFile(hostsFile, '192.0.2.79 node-1\n');
    await digUntil(ports.dns, 'node-1', 'A', ['node-1. 60 IN A 192.0.2.79']);
    assert.deepEqual(await dig(ports.dns, 'node-1', 'AAAA'), []);
  });

  it('serves the kubelet probes and the Prometheus scrape on the Corefile’s ports', async () => {
    const health = await fetch(`http://127.0.0.1:${ports.health}/health`);
    const ready = await fetch(`http://127.0.0.1:${ports.ready}/ready`);
    const metrics = await fetch(`http://127.0.0.1:${ports.metrics}/metrics`);
    assert.deepEqual([health.status, ready.status, metrics.status], [200, 200, 200]);
    assert.match(await metrics.text(), /^lbdns_/m);
  });

  it('logs what the Corefile’s plugins become, without a warning for the kubeadm default', () => {
    assert.ok(server.logs.some((l) => l.msg === 'Corefile: handled natively' && /: loop: /.test(String(l.note))));
    assert.deepEqual(server.logs.filter((l) => l.msg === 'Corefile: served differently from CoreDNS'), []);
  });
});

describe('lbdns --corefile: a changed Corefile is applied as a settings reload', { skip }, () => {
  it('takes the new ttl and stub domain, and keeps serving the last good one through a broken edit', async () => {
    const general = await answering('192.0.2.50');
    const corp = await answering('192.0.2.51');
    const ports = await freePorts();
    const path = tempFile('Corefile', kubeadmCorefile(ports, general.port, ''));
    const server = await startLbdns({ config: null, upstream: null, listenFlags: false, port: ports.dns, opsPort: ports.metrics, args: ['--corefile', path] });
    try {
      assert.deepEqual(await dig(ports.dns, 'web.default.svc.cluster.local', 'A'), ['web.default.svc.cluster.local. 30 IN A 10.96.0.20']);
      assert.deepEqual(await dig(ports.dns, 'intranet.corp.example', 'A'), ['intranet.corp.example. 30 IN A 192.0.2.50']);

      replaceFile(path, kubeadmCorefile(ports, general.port, `corp.example:${ports.dns} {\n    forward . 127.0.0.1:${corp.port}\n}\n`).replace('ttl 30', 'ttl 12'));
      await digUntil(ports.dns, 'web.default.svc.cluster.local', 'A', ['web.default.svc.cluster.local. 12 IN A 10.96.0.20']);
      assert.deepEqual(await dig(ports.dns, 'other.corp.example', 'A'), ['other.corp.example. 30 IN A 192.0.2.51']);

      const hostsFile = tempFile('hosts', '192.0.2.80 printer\n');
      replaceFile(path, readFileSync(path, 'utf8').replace('    loop\n', `    hosts ${hostsFile} {\n        fallthrough\n    }\n    loop\n`));
      await digUntil(ports.dns, 'printer', 'A', ['printer. 3600 IN A 192.0.2.80']);

      replaceFile(path, `${readFileSync(path, 'utf8')}\nbad.example:${ports.dns} {\n    rewrite name a b\n}\n`);
      const rejected = await server.waitForLog((l) => /rejected/.test(l.msg));
      assert.match(String(rejected.err), /Corefile:\d+: plugin "rewrite" is not supported/);
      assert.deepEqual(await dig(ports.dns, 'web.default.svc.cluster.local', 'A'), ['web.default.svc.cluster.local. 12 IN A 10.96.0.20']);
    } finally {
      await server.stop();
      await Promise.all([general.close(), corp.close()]);
    }
  });
});

describe('lbdns --corefile with a plugin it cannot serve', () => {
  it('exits 2, naming the plugin and its line', async () => {
    const server = await startLbdns({ config: null, upstream: null, waitUntilServing: false, args: ['--corefile', join(fixtures, 'rewrite.Corefile')] });
    const code = await new Promise<number | null>((resolve) => server.process.once('exit', (c) => resolve(c)));
    assert.equal(code, 2);
    assert.match(server.stderr(), /rewrite.Corefile:5: plugin "rewrite" is not supported/);
  });
});
