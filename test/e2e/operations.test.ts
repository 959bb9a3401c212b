/**
 * Running lbdns as operators do: settings from a ConfigMap mount (kubelet swaps a `..data`
 * symlink) reloaded live, a bad version rejected while the last good one serves, SIGHUP, and the
 * metrics an operator graphs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { within } from '../helpers/wait.ts';
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { answerData, query } from '../helpers/dns-client.ts';

/** A directory laid out as kubelet mounts a ConfigMap: lbdns.yaml → ..data/lbdns.yaml → ..<version>/. */
function configMapMount(content: string): { path: string; update(next: string): void } {
  const dir = mkdtempSync(join(tmpdir(), 'lbdns-configmap-'));
  let version = 0;
  const writeVersion = (text: string): string => {
    const name = `..2026_11_25_00_00_0${version++}.${Math.random().toString(36).slice(2, 8)}`;
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'lbdns.yaml'), text);
    return name;
  };
  symlinkSync(writeVersion(content), join(dir, '..data'));
  symlinkSync('..data/lbdns.yaml', join(dir, 'lbdns.yaml'));
  return {
    path: join(dir, 'lbdns.yaml'),
    update(next) {
      // kubelet's atomic writer: a new version directory, a temporary symlink, renamed over ..data.
      const name = writeVersion(next);
      symlinkSync(name, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    },
  };
}


const ttlOf = async (port: number) => (await query(port, 'web.default.svc.cluster.local', 'A')).answers?.[0]?.ttl;

describe('settings from a ConfigMap', () => {
  it('reloads live within 2 s, rejects a bad version naming the key, and keeps the last good settings', async () => {
    const mount = configMapMount('ttl: 5\n');
    const server = await startLbdns({ config: mount.path });
    try {
      assert.equal(await ttlOf(server.port), 5);
      mount.update('ttl: 42\nbalance:\n  answer: endpoints\n');
      const took = await within(2000, async () => (await ttlOf(server.port)) === 42);
      console.log(`# settings visible ${took.toFixed(0)} ms after the ConfigMap update`);
      const endpoints = (answerData(await query(server.port, 'web.default.svc.cluster.local', 'A'), 'A') as string[]).sort();
      assert.deepEqual(endpoints, ['10.244.0.11', '10.244.1.12', '10.244.2.13'], 'policies change live too');

      mount.update('ttl: forty\n');
      const rejected = await server.waitForLog((l) => l.msg === 'settings rejected; the last good settings keep serving', 3000);
      assert.match(String(rejected.err), /ttl: /);
      assert.equal(await ttlOf(server.port), 42);
      const metrics = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
      assert.match(metrics, /^lbdns_config_reloads_total\{result="failure"\} 1$/m);
      assert.match(metrics, /^lbdns_config_last_reload_successful 0$/m);

      mount.update('ttl: 7\n');
      await within(2000, async () => (await ttlOf(server.port)) === 7);
      const recovered = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
      assert.match(recovered, /^lbdns_config_last_reload_successful 1$/m, 'a good version after a bad one');
    } finally {
      await server.stop();
    }
  });

  it('applies an update’s other keys at once and leaves the keys it says need a restart as they were', async () => {
    const mount = configMapMount('ttl: 5\n');
    const server = await startLbdns({ config: mount.path });
    // A Service in the namespace both versions serve carries the TTL that shows the update applied.
    const shopTtl = async () => (await query(server.port, 'idle.shop.svc.cluster.local', 'A')).answers?.[0]?.ttl;
    try {
      mount.update('ttl: 7\nnamespaces: [shop]\npods: disabled\n');
      const restart = await server.waitForLog((l) => l.msg === 'these settings take effect only after a restart', 3000);
      assert.deepEqual(restart.keys, ['namespaces', 'pods']);
      await within(2000, async () => (await shopTtl()) === 7);
      // What the log line claims: until a restart, every namespace and pod names are still served.
      assert.deepEqual(answerData(await query(server.port, 'web.default.svc.cluster.local', 'A'), 'A'), ['10.96.0.20'], 'namespaces: [shop] waits for a restart');
      assert.deepEqual(answerData(await query(server.port, '10-244-0-11.default.pod.cluster.local', 'A'), 'A'), ['10.244.0.11'], 'pods: disabled waits for a restart');
    } finally {
      await server.stop();
    }
  });

  it('applies an update kubelet publishes while lbdns starts', async () => {
    // Updates are published back to back from the spawn until lbdns says it serves, so the last
    // one lands after lbdns read its settings: it must be applied, whenever it came.
    for (let attempt = 0; attempt < 3; attempt++) {
      const mount = configMapMount('ttl: 100\n');
      const server = await startLbdns({ config: mount.path, waitUntilServing: false });
      try {
        let ttl = 100;
        while (!server.logs.some((l) => l.msg === 'serving DNS over UDP and TCP')) {
          if (server.process.exitCode !== null) assert.fail(`lbdns exited: ${server.stderr()}`);
          mount.update(`ttl: ${++ttl}\n`);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        await within(5000, async () => (await ttlOf(server.port)) === ttl);
      } finally {
        await server.stop();
      }
    }
  });

  it('re-reads the settings on SIGHUP', async () => {
    const mount = configMapMount('ttl: 5\n');
    const server = await startLbdns({ config: mount.path });
    try {
      assert.equal(await ttlOf(server.port), 5);
      mount.update('ttl: 9\n');
      server.process.kill('SIGHUP');
      await server.waitForLog((l) => l.msg === 'settings reloaded' && l.reason === 'SIGHUP', 3000);
      assert.equal(await ttlOf(server.port), 9);
      const metrics = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
      assert.match(metrics, /^lbdns_config_reloads_total\{result="success"\} [1-9]/m);
    } finally {
      await server.stop();
    }
  });

  it('changes weights live from the settings’ weight table', async () => {
    const mount = configMapMount('');
    const server = await startLbdns({ config: mount.path });
    const share = async (address: string) => {
      const body = (await (await fetch(`http://127.0.0.1:${server.debugPort}/debug/balance?name=checkout.shop.svc.cluster.local`)).json()) as { endpoints: Array<{ address: string; expectedFirstShare: number; weightFrom: string }> };
      return body.endpoints.find((e) => e.address === address);
    };
    try {
      assert.equal((await share('10.244.0.71'))?.expectedFirstShare, 0.6);
      mount.update('balance:\n  weights:\n    checkout.shop.svc.cluster.local:\n      checkout-0: 0\n');
      await within(2000, async () => (await share('10.244.0.71'))?.expectedFirstShare === 0);
      for (let i = 0; i < 10; i++) assert.ok(!answerData(await query(server.port, 'checkout.shop.svc.cluster.local', 'A'), 'A').includes('10.244.0.71'));
    } finally {
      await server.stop();
    }
  });
});

describe('metrics', () => {
  it('counts requests by zone, type and protocol, responses by rcode, latency, balanced answers and the view', async () => {
    const server = await startLbdns();
    try {
      for (let i = 0; i < 3; i++) await query(server.port, 'web.default.svc.cluster.local', 'A');
      await query(server.port, 'nope.default.svc.cluster.local', 'AAAA');
      await query(server.port, 'checkout.shop.svc.cluster.local', 'A');
      const text = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
      assert.match(text, /^lbdns_dns_requests_total\{zone="cluster.local",proto="udp",type="A"\} 4$/m);
      assert.match(text, /^lbdns_dns_requests_total\{zone="cluster.local",proto="udp",type="AAAA"\} 1$/m);
      assert.match(text, /^lbdns_dns_responses_total\{zone="cluster.local",rcode="NXDOMAIN"\} 1$/m);
      assert.match(text, /^lbdns_dns_request_duration_seconds_count 5$/m);
      assert.match(text, /^lbdns_balanced_answers_total\{policy="weighted"\} 1$/m);
      assert.match(text, /^lbdns_view_objects\{kind="services"\} 12$/m);
      assert.match(text, /^lbdns_cache_hits_total 0$/m);
    } finally {
      await server.stop();
    }
  });

  it("counts the same queries in CoreDNS's families, with CoreDNS's names, labels and buckets", async () => {
    const server = await startLbdns();
    try {
      for (let i = 0; i < 3; i++) await query(server.port, 'web.default.svc.cluster.local', 'A');
      await query(server.port, 'nope.default.svc.cluster.local', 'AAAA');
      await query(server.port, 'elsewhere.example', 'A', { timeoutMs: 5000 });
      const text = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
      const at = `server="dns://:${server.port}",zone="cluster.local.",view=""`;
      assert.match(text, new RegExp(`^coredns_dns_requests_total\\{${at},proto="udp",family="1",type="A"\\} 3$`, 'm'));
      assert.match(text, new RegExp(`^coredns_dns_requests_total\\{server="dns://:${server.port}",zone=".",view="",proto="udp",family="1",type="A"\\} 1$`, 'm'));
      assert.match(text, new RegExp(`^coredns_dns_responses_total\\{${at},rcode="NXDOMAIN",plugin="kubernetes"\\} 1$`, 'm'));
      // The default test upstream (127.0.0.1:9) answers nothing: SERVFAIL, written by forward.
      assert.match(text, new RegExp(`^coredns_dns_responses_total\\{server="dns://:${server.port}",zone=".",view="",rcode="SERVFAIL",plugin="forward"\\} 1$`, 'm'));
      assert.match(text, new RegExp(`^coredns_dns_request_duration_seconds_bucket\\{${at},type="A",le="8.192"\\} 3$`, 'm'));
      assert.match(text, /^# TYPE coredns_dns_request_duration_seconds histogram$/m);
      assert.match(text, new RegExp(`^coredns_dns_request_size_bytes_bucket\\{${at},proto="udp",le="64000"\\} 4$`, 'm'));
      assert.match(text, new RegExp(`^coredns_dns_response_size_bytes_count\\{${at},proto="udp"\\} 4$`, 'm'));
      assert.match(text, /^coredns_cache_misses_total\{server="dns:\/\/:\d+",zones=".",view=""\} 1$/m);
      assert.match(text, /^coredns_forward_requests_total\{to="127.0.0.1:9"\} [1-9]/m);
      assert.match(text, /^coredns_forward_healthcheck_failures_total\{to="127.0.0.1:9"\} [1-9]/m);
      assert.match(text, /^coredns_build_info\{version="\d+\.\d+\.\d+",revision="",goversion="v24\.[\d.]+"\} 1$/m);
      assert.match(text, /^coredns_panics_total 0$/m);
      assert.match(text, /^coredns_plugin_enabled\{server="dns:\/\/:\d+",zone=".",view="",name="kubernetes"\} 1$/m);
    } finally {
      await server.stop();
    }
  });
});

describe('query log and IPv6', () => {
  it('logs sampled queries with client, name, type, rcode and duration, and serves UDP and TCP on IPv6 too', async () => {
    const { freePort } = await import('../helpers/lbdns-process.ts');
    const { tcpExchange, buildQuery, decode, udpExchange } = await import('../helpers/dns-client.ts');
    const port6 = await freePort();
    const server = await startLbdns({ config: tempFile('lbdns.yaml', 'queryLogSampleRate: 1\n'), args: ['--listen', `[::1]:${port6}`] });
    try {
      await query(server.port, 'Web.default.svc.cluster.local', 'A');
      const line = await server.waitForLog((l) => l.msg === 'query');
      assert.equal(line.client, '127.0.0.1');
      assert.equal(line.name, 'web.default.svc.cluster.local');
      assert.equal(line.type, 'A');
      assert.equal(line.rcode, 'NOERROR');
      assert.equal(typeof line.durationMs, 'number');
      const overUdp6 = decode((await udpExchange(port6, buildQuery('web.default.svc.cluster.local', 'A'), 2000, '::1'))!);
      assert.deepEqual(answerData(overUdp6, 'A'), ['10.96.0.20']);
      const [overTcp6] = await tcpExchange(port6, [buildQuery('web.default.svc.cluster.local', 'AAAA')], 2000, '::1');
      assert.equal(decode(overTcp6!).rcode, 'NOERROR');
    } finally {
      await server.stop();
    }
  });
});
