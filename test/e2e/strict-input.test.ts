/**
 * Strict input through the real CLI: what an operator may get wrong is refused in one line naming
 * the key, with the usage exit code 2 and no stack trace, or warned about while serving on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { demoObjects, freePort, projectRoot, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { answerData, query } from '../helpers/dns-client.ts';

const run = promisify(execFile);
const cli = join(projectRoot, 'bin/lbdns.js');

async function runCli(args: string[], options: { node?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(options.node ?? process.execPath, [cli, ...args], { cwd: projectRoot, timeout: 20_000, env: { ...process.env, ...options.env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Loopback addresses and the demo for every flag a case leaves out, so that even a regression binds nothing else. */
function withDefaults(args: string[]): string[] {
  const defaults: Record<string, string> = { '--listen': '127.0.0.1:0', '--ops-listen': '127.0.0.1:0', '--debug-listen': '127.0.0.1:0', '--workers': '1', '--upstream': '127.0.0.1:9' };
  const out = [...args];
  for (const [flag, value] of Object.entries(defaults)) if (!args.includes(flag)) out.push(flag, value);
  if (!args.includes('--objects') && !args.includes('--kubeconfig')) out.push('--objects', demoObjects);
  return out;
}

/** One line on stderr, no stack trace. */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
  return lines[0] as string;
}

describe('usage errors: exit 2, one line naming the key', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['a listen port above 65535', ['--listen', '127.0.0.1:99999'], /^lbdns: settings: listen\[0\]: expected HOST:PORT/],
    ['a host name in a listen address', ['--listen', 'localhost:5353'], /^lbdns: settings: listen\[0\]: expected HOST:PORT with an IP address/],
    ['a host name in the ops address', ['--ops-listen', 'metrics.internal:8080'], /^lbdns: settings: ops\.listen: expected HOST:PORT with an IP address/],
    ['an empty zone', ['--zone', ''], /^lbdns: settings: zones\[0\]: empty/],
    ['the root zone', ['--zone', '.'], /^lbdns: settings: zones\[0\]: empty/],
    ['a clientZones CIDR that is no address', ['--config', tempFile('lbdns.yaml', 'balance:\n  clientZones:\n    999.0.0.0/24: zone-a\n')], /balance\.clientZones\.999\.0\.0\.0\/24: expected a CIDR/],
    ['an allowedClients prefix over 32', ['--config', tempFile('lbdns.yaml', 'forward:\n  allowedClients: [10.0.0.0/99]\n')], /forward\.allowedClients\[0\]: expected a CIDR/],
    ['an empty settings file', ['--config', tempFile('lbdns.yaml', '# all commented out\n')], /lbdns\.yaml: empty \(no settings in it\); write \{\} to run on every default$/],
    ['two sources on the command line', ['--objects', demoObjects, '--kubeconfig', '/nonexistent'], /--objects and --kubeconfig name two sources/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const result = await runCli(withDefaults(args));
      assert.equal(result.code, 2, result.stderr);
      assert.match(oneLine(result.stderr), message);
    });
  }
});

describe('what the flags and the environment decide', () => {
  it('--version prints package.json’s version', async () => {
    const result = await runCli(['--version']);
    assert.equal(result.code, 0);
    const { version } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal(result.stdout, `lbdns ${version}\n`);
  });

  const oldNode = '/usr/bin/node';
  // The system's Node (v20 here), run directly as a user without npx would.
  const oldNodeVersion = existsSync(oldNode) ? Number(execFileSync(oldNode, ['--version'], { encoding: 'utf8' }).replace(/^v/, '').split('.')[0]) : null;
  it('an unsupported Node says so in one line', { skip: oldNodeVersion === null || oldNodeVersion >= 24 ? `no Node below 24 at ${oldNode}` : false }, async () => {
    const result = await runCli(['--version'], { node: oldNode });
    assert.equal(result.code, 1);
    assert.match(oneLine(result.stderr), /^lbdns: needs Node\.js 24 or later; this is Node\.js 2\d\./);
  });

  it('--objects wins over source: kubernetes in the settings file', async () => {
    const server = await startLbdns({ config: tempFile('lbdns.yaml', 'source: kubernetes\n'), env: { KUBERNETES_SERVICE_HOST: '', KUBECONFIG: '/nonexistent/kubeconfig' } });
    try {
      assert.deepEqual(answerData(await query(server.port, 'web.default.svc.cluster.local', 'A'), 'A'), ['10.96.0.20']);
    } finally {
      await server.stop();
    }
  });

  it('without any credentials, fails at once with a message instead of retrying localhost:8080', async () => {
    const home = mkdtempSync(join(tmpdir(), 'lbdns-home-'));
    const port = await freePort();
    const result = await runCli(['--listen', `127.0.0.1:${port}`, '--ops-listen', '127.0.0.1:0', '--debug-listen', '127.0.0.1:0', '--workers', '1', '--upstream', '127.0.0.1:9'], {
      env: { HOME: home, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' },
    });
    assert.equal(result.code, 1, result.stderr);
    const fatal = result.stderr
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: number; msg: string; err?: string })
      .find((line) => line.level === 60);
    assert.equal(fatal?.msg, 'cannot read Kubernetes credentials');
    assert.match(String(fatal?.err), new RegExp(`^no Kubernetes credentials: not in a pod \\(KUBERNETES_SERVICE_HOST is unset\\), and KUBECONFIG is unset and there is no ${home}/\\.kube/config; give --kubeconfig FILE`));
    assert.doesNotMatch(result.stderr, /localhost:8080/);
  });

  it('a missing resolv.conf, with no upstream set, is a warning: the cluster zones serve', async () => {
    const server = await startLbdns({ config: tempFile('lbdns.yaml', 'forward:\n  resolvConf: /nonexistent/resolv.conf\n'), upstream: null });
    try {
      const warning = await server.waitForLog((l) => l.msg === 'no upstream from resolv.conf; set forward.upstreams or --upstream');
      assert.equal(warning.level, 40);
      assert.match(String(warning.err), /^cannot read \/nonexistent\/resolv\.conf: ENOENT/);
      assert.deepEqual(answerData(await query(server.port, 'web.default.svc.cluster.local', 'A'), 'A'), ['10.96.0.20']);
    } finally {
      await server.stop();
    }
  });
});

describe('a settings reload to an empty file', () => {
  it('is rejected; the last good settings keep serving', async () => {
    const config = tempFile('lbdns.yaml', 'ttl: 17\n');
    const server = await startLbdns({ config });
    try {
      writeFileSync(config, '');
      server.process.kill('SIGHUP');
      const rejected = await server.waitForLog((l) => l.msg === 'settings rejected; the last good settings keep serving');
      assert.match(String(rejected.err), /empty \(no settings in it\)/);
      assert.equal((await query(server.port, 'web.default.svc.cluster.local', 'A')).answers?.[0]?.ttl, 17);
    } finally {
      await server.stop();
    }
  });
});

describe('weights a Service’s answers do not use', () => {
  const service = (name: string, annotations: Record<string, string>) => [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop', annotations }, spec: { clusterIP: `10.96.9.${name.length}`, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace: 'shop', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.9.1'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: `${name}-0` } }, { addresses: ['10.244.9.2'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: `${name}-1` } }],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  ];
  const objects = () =>
    tempFile(
      'objects.json',
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          ...service('shuffled', { 'lbdns.io/answer': 'endpoints', 'lbdns.io/weights': 'shuffled-0=3' }),
          ...service('virtual', { 'lbdns.io/weights': 'virtual-0=3' }),
          ...service('weighted', { 'lbdns.io/answer': 'endpoints', 'lbdns.io/policy': 'weighted', 'lbdns.io/weights': 'weighted-0=3' }),
          ...service('removed', { 'lbdns.io/answer': 'endpoints', 'lbdns.io/weights': 'removed-0=0' }),
        ],
      }),
    );
  const WARNING = /^weights set for a Service that does not use them: /;

  it('are warned about once per Service and change, not per query', async () => {
    const config = tempFile('lbdns.yaml', 'ttl: 5\n');
    const server = await startLbdns({ objects: objects(), config });
    const warned = (service: string) => server.logs.filter((l) => WARNING.test(l.msg) && l.service === service);
    try {
      const shuffled = await server.waitForLog((l) => WARNING.test(l.msg) && l.service === 'shop/shuffled');
      assert.match(shuffled.msg, /shuffle policy/);
      assert.equal(shuffled.level, 40);
      const virtual = await server.waitForLog((l) => WARNING.test(l.msg) && l.service === 'shop/virtual');
      assert.match(virtual.msg, /answers its ClusterIP/);
      for (let i = 0; i < 5; i++) {
        await query(server.port, 'shuffled.shop.svc.cluster.local', 'A');
        await query(server.port, 'virtual.shop.svc.cluster.local', 'A');
      }
      // A reload that changes nothing about them says nothing again; one that switches the policy does.
      server.process.kill('SIGHUP');
      await server.waitForLog((l) => l.msg === 'settings reloaded');
      assert.equal(warned('shop/shuffled').length, 1);
      assert.equal(warned('shop/virtual').length, 1);
      assert.equal(warned('shop/weighted').length, 0, 'the weighted policy uses them');
      assert.equal(warned('shop/removed').length, 0, 'weight 0 applies under shuffle');
      writeFileSync(config, 'ttl: 5\nbalance:\n  policy: weighted\n  weights:\n    removed.shop.svc.cluster.local: { removed-1: 2 }\n');
      server.process.kill('SIGHUP');
      await server.waitForLog((l) => l.msg === 'settings reloaded' && server.logs.filter((x) => x.msg === 'settings reloaded').length === 2);
      assert.equal(warned('shop/shuffled').length, 1, 'weighted by the settings now: nothing to say');
      assert.equal(warned('shop/removed').length, 0);
      writeFileSync(config, 'ttl: 5\nbalance:\n  weights:\n    removed.shop.svc.cluster.local: { removed-1: 2 }\n');
      server.process.kill('SIGHUP');
      const removed = await server.waitForLog((l) => WARNING.test(l.msg) && l.service === 'shop/removed');
      assert.match(removed.msg, /shuffle policy/);
      await server.waitForLog((l) => WARNING.test(l.msg) && l.service === 'shop/shuffled' && warned('shop/shuffled').length === 2);
    } finally {
      await server.stop();
    }
  });
});
