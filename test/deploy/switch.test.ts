/**
 * deploy/switch.sh, the switch from CoreDNS to lbdns and back. Its plan is read from --dry-run,
 * which prints every kubectl command in order; its reads of the cluster run for real against the
 * test API server (test/helpers/fake-apiserver.ts) through a kubeconfig. That server answers GETs
 * and watches of core/v1 and discovery.k8s.io/v1 only, so the steps that write (apply, scale,
 * annotate, delete), read apps/v1 Deployments (rollout status, replica counts) or need a kubelet
 * (the check pod) are covered by the dry-run plan and by test/deploy/manifests.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { projectRoot } from '../helpers/lbdns-process.ts';
import { FakeApiServer, type KubeObject } from '../helpers/fake-apiserver.ts';
import { forwardHost, parseCorefile } from '../../src/settings/corefile.ts';

// A test that throws before its own stop() must not leave an API server that keeps this file running.
after(() => FakeApiServer.stopAll());

const script = join(projectRoot, 'deploy/switch.sh');

const have = (command: string, args: string[]) => {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
// CI installs both (.ci/run); a developer machine without them skips what needs them.
const skipKubectl = !have('kubectl', ['version', '--client']) && !process.env.CI ? 'kubectl is not installed' : false;
const skipShellcheck = !have('shellcheck', ['--version']) && !process.env.CI ? 'shellcheck is not installed' : false;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the script without blocking this process (the test API server lives in it), killed after 60 s. */
function runSwitch(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** The kubectl commands of a dry run, in order, without the leading `kubectl [--context X] -n kube-system`. */
function plan(run: Run): string[] {
  assert.equal(run.status, 0, run.stderr);
  return run.stdout
    .split('\n')
    .filter((line) => line.startsWith('kubectl '))
    .map((line) => line.replace(/^kubectl (--context \S+ )?-n kube-system /, ''));
}

/** The index of the first command from #`from` on that matches, failing when there is none. */
function indexOf(commands: string[], pattern: RegExp, from = 0): number {
  const found = commands.findIndex((c, i) => i >= from && pattern.test(c));
  assert.ok(found >= 0, `a command from #${from} on matching ${pattern}, in:\n${commands.join('\n')}`);
  return found;
}

interface Rendered {
  kind: string;
  metadata: { name: string };
  spec?: { template?: { spec?: { containers?: Array<{ image: string }> } } };
}

function render(overlay: string): Rendered[] {
  const text = execFileSync('kubectl', ['kustomize', join(projectRoot, 'deploy/overlays', overlay)], { encoding: 'utf8' });
  return parseAllDocuments(text).map((d) => d.toJS() as Rendered);
}

/** kubectl's resource name for a kind, as the script names objects (deployment/lbdns). */
const resourceName = (o: Rendered) => `${o.kind.toLowerCase()}/${o.metadata.name}`;

/** Commands that change an object, and the objects they name. */
const CHANGES = /^(delete|patch|edit|replace|annotate|label|scale|set|apply)\b/;

describe('deploy/switch.sh', () => {
  it('is valid bash', () => {
    execFileSync('bash', ['-n', script]);
  });

  it('passes shellcheck', { skip: skipShellcheck }, () => {
    execFileSync('shellcheck', [script, join(projectRoot, 'deploy/build-image-contents.sh')], { stdio: 'pipe' });
  });

  describe('its plan (--dry-run)', { skip: skipKubectl }, () => {
    it('switch: lbdns is applied, rolled out, listed by kube-dns and answering before CoreDNS goes to 0, then checked again', async () => {
      const commands = plan(await runSwitch(['--dry-run', '--context', 'prod']));
      const selector = indexOf(commands, /^get service kube-dns -o 'jsonpath=\{\.spec\.selector\}'/);
      const apply = indexOf(commands, /^apply -k \S*deploy\/overlays\/replacement$/);
      const rollout = indexOf(commands, /^rollout status deployment\/lbdns /);
      const replicas = indexOf(commands, /^get deployment lbdns -o 'jsonpath=\{\.status\.readyReplicas\}'$/);
      const endpoints = indexOf(commands, /^get endpointslices -l kubernetes\.io\/service-name=kube-dns /, rollout);
      const check = indexOf(commands, /^run lbdns-check-\d+ /, rollout);
      const remember = indexOf(commands, /^annotate deployment\/coredns 'lbdns\.io\/coredns-replicas=<coredns replicas>'/);
      const scaleDown = indexOf(commands, /^scale deployment\/coredns --replicas=0$/);
      const gone = indexOf(commands, /^wait --for=delete pod -l 'k8s-app=kube-dns,app\.kubernetes\.io\/name!=lbdns' /);
      const endpointsAlone = indexOf(commands, /^get endpointslices -l kubernetes\.io\/service-name=kube-dns /, gone);
      const checkAlone = indexOf(commands, /^run lbdns-check-\d+ /, gone);
      const order = [selector, apply, rollout, replicas, endpoints, check, remember, scaleDown, gone, endpointsAlone, checkAlone];
      assert.equal(commands.filter((c) => /^scale deployment\/coredns/.test(c)).length, 1, 'CoreDNS is scaled once, to 0');
      assert.deepEqual([...order].sort((a, b) => a - b), order, `in this order:\n${order.map((i) => commands[i]).join('\n')}`);
      // The first check asks every lbdns pod and the kube-dns ClusterIP; the last the ClusterIP.
      assert.match(commands[check]!, /dig .*@<pod-ip> kubernetes\.default\.svc\.cluster\.local A;.*dig .*@<kube-dns ClusterIP> kubernetes\.default\.svc\.cluster\.local A/);
      assert.match(commands[checkAlone]!, /dig .*@<kube-dns ClusterIP> kubernetes\.default\.svc\.cluster\.local A/);
      assert.match((await runSwitch(['--dry-run', '--context', 'prod'])).stdout, /^kubectl --context prod -n kube-system /m);
    });

    it('rollback: CoreDNS is back and listed by kube-dns before lbdns is removed, and its ClusterIP answers after', async () => {
      const commands = plan(await runSwitch(['--dry-run', '--rollback']));
      const saved = indexOf(commands, /^get deployment coredns -o 'jsonpath=\{\.metadata\.annotations\.lbdns\\\.io\/coredns-replicas\}'$/);
      const scaleUp = indexOf(commands, /^scale deployment\/coredns '--replicas=<saved replicas>'$/);
      const rollout = indexOf(commands, /^rollout status deployment\/coredns /);
      const endpoints = indexOf(commands, /^get endpointslices -l kubernetes\.io\/service-name=kube-dns /);
      const remove = indexOf(commands, /^delete /);
      const gone = indexOf(commands, /^wait --for=delete pod -l app\.kubernetes\.io\/name=lbdns,app\.kubernetes\.io\/component=dns /);
      const check = indexOf(commands, /^run lbdns-check-\d+ .*@<kube-dns ClusterIP>/);
      const order = [saved, scaleUp, rollout, endpoints, remove, gone, check];
      assert.deepEqual([...order].sort((a, b) => a - b), order, `in this order:\n${order.map((i) => commands[i]).join('\n')}`);
    });

    for (const mode of ['replacement', 'stub']) {
      it(`${mode} rollback removes exactly what the overlay creates`, async () => {
        const commands = plan(await runSwitch(['--dry-run', '--rollback', '--mode', mode]));
        const deleted = commands[indexOf(commands, /^delete /)]!.split(' ').filter((w) => w.includes('/'));
        assert.deepEqual(deleted.sort(), render(mode).map(resourceName).sort());
      });
    }

    it('no command in any plan changes the kube-dns Service, and what is applied holds no Service named kube-dns', async () => {
      for (const mode of ['replacement', 'stub']) {
        for (const action of [[], ['--rollback']]) {
          for (const command of plan(await runSwitch(['--dry-run', '--mode', mode, ...action]))) {
            if (!CHANGES.test(command)) continue;
            assert.doesNotMatch(command, /\b(service|svc|services)[/ ]kube-dns\b/, command);
            assert.doesNotMatch(command, /^(delete|patch|edit|replace|annotate|label|set) (service|svc)\b/, command);
          }
        }
        assert.equal(render(mode).filter((o) => o.kind === 'Service' && o.metadata.name === 'kube-dns').length, 0);
      }
    });

    it('stub: lbdns is applied and rolled out, then its Service answers, then the snippet is printed', async () => {
      const run = await runSwitch(['--dry-run', '--mode', 'stub']);
      const commands = plan(run);
      const apply = indexOf(commands, /^apply -k \S*deploy\/overlays\/stub$/);
      const rollout = indexOf(commands, /^rollout status deployment\/lbdns /);
      const address = indexOf(commands, /^get service lbdns -o 'jsonpath=\{\.spec\.clusterIP\}'$/);
      const check = indexOf(commands, /^run lbdns-check-\d+ .*@<lbdns ClusterIP> kubernetes\.default\.svc\.lb\.cluster\.local A/);
      assert.deepEqual([apply, rollout, address, check], [apply, rollout, address, check].sort((a, b) => a - b));
      assert.match(run.stdout, /forward \. <lbdns ClusterIP>:53/);
    });
  });

  describe('--image', { skip: skipKubectl }, () => {
    const imageOf = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Rendered).find((o) => o.kind === 'Deployment')!.spec!.template!.spec!.containers![0]!.image;

    it('renders the overlay with that image, by tag or by digest', async () => {
      for (const image of ['registry.example:5000/team/lbdns:v2.1', `registry.example/lbdns@sha256:${'ab'.repeat(32)}`]) {
        const run = await runSwitch(['--render', '--image', image]);
        assert.equal(run.status, 0, run.stderr);
        assert.equal(imageOf(run.stdout), image);
      }
    });

    it('refuses a reference without a tag or digest, and anything that is not a reference', async () => {
      for (const image of ['registry.example/lbdns', 'lbdns:v1;rm -rf /']) {
        const run = await runSwitch(['--render', '--image', image]);
        assert.equal(run.status, 1);
        assert.match(run.stderr, /--image/);
      }
    });
  });

  describe('against the test API server', { skip: skipKubectl }, () => {
    let api: FakeApiServer;
    let dir: string;
    let env: Record<string, string>;
    const kubeDns = (selector: Record<string, string>): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
      spec: { clusterIP: '10.96.0.10', selector, ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 }] },
    });
    const pod = (name: string, ip: string, labels: Record<string, string>, ready: boolean): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'kube-system', labels },
      spec: { containers: [{ name: 'dns', image: 'x' }] },
      status: { podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    });
    const lbdnsLabels = { 'app.kubernetes.io/name': 'lbdns', 'app.kubernetes.io/component': 'dns', 'k8s-app': 'kube-dns' };

    before(async () => {
      // kubectl sends credentials only over TLS.
      api = await FakeApiServer.start({ tls: true });
      dir = mkdtempSync(join(tmpdir(), 'lbdns-switch-'));
      api.writeKubeconfig(join(dir, 'kubeconfig'));
      env = { KUBECONFIG: join(dir, 'kubeconfig') };
      api.upsert(pod('coredns-a', '10.244.0.2', { 'k8s-app': 'kube-dns' }, true));
      api.upsert(pod('coredns-b', '10.244.1.2', { 'k8s-app': 'kube-dns' }, true));
      api.upsert(pod('lbdns-a', '10.244.0.9', lbdnsLabels, true));
      api.upsert(pod('lbdns-b', '10.244.1.9', lbdnsLabels, true));
      api.upsert(pod('lbdns-c', '10.244.2.9', lbdnsLabels, false));
      api.upsert({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'kube-dns-x1', namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'kube-dns' } },
        addressType: 'IPv4',
        endpoints: [
          { addresses: ['10.244.0.2'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'coredns-a', namespace: 'kube-system' } },
          { addresses: ['10.244.1.2'], targetRef: { kind: 'Pod', name: 'coredns-b', namespace: 'kube-system' } },
          { addresses: ['10.244.0.9'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'lbdns-a', namespace: 'kube-system' } },
          { addresses: ['10.244.1.9'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'lbdns-b', namespace: 'kube-system' } },
          { addresses: ['10.244.2.9'], conditions: { ready: false }, targetRef: { kind: 'Pod', name: 'lbdns-c', namespace: 'kube-system' } },
        ],
        ports: [{ name: 'dns', port: 53, protocol: 'UDP' }],
      });
      api.upsert({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'lbdns', namespace: 'kube-system' }, spec: { clusterIP: '10.100.7.7', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] } });
    });

    after(async () => {
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('--status: the kube-dns selector, the ready lbdns pods, and whose pods kube-dns sends queries to', async () => {
      api.upsert(kubeDns({ 'k8s-app': 'kube-dns' }));
      const run = await runSwitch(['--status'], env);
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /^kube-dns: ClusterIP 10\.96\.0\.10, selector \{"k8s-app":"kube-dns"\}$/m);
      assert.match(run.stdout, /^kube-dns selector: ok/m);
      assert.match(run.stdout, /^lbdns pods ready: 2 \(lbdns-a 10\.244\.0\.9, lbdns-b 10\.244\.1\.9\)$/m);
      // coredns-b has no ready condition, which means ready; lbdns-c is not ready.
      assert.match(run.stdout, /^kube-dns ready endpoints: lbdns=2 other=2$/m);
    });

    it('a switch stops before changing anything when kube-dns selects more than k8s-app=kube-dns, and says how to restore it', async () => {
      // What `kubectl apply` of the earlier overlay left: kubeadm's selector and lbdns's, merged.
      api.upsert(kubeDns({ 'app.kubernetes.io/component': 'dns', 'app.kubernetes.io/name': 'lbdns', 'k8s-app': 'kube-dns' }));
      const before = api.requests.length;
      const run = await runSwitch([], env);
      assert.equal(run.status, 1);
      assert.match(run.stderr, /selects \{.*"app\.kubernetes\.io\/name":"lbdns".*\}, not only k8s-app=kube-dns/);
      assert.match(run.stderr, /patch service kube-dns --type json -p '\[\{"op":"replace","path":"\/spec\/selector","value":\{"k8s-app":"kube-dns"\}\}\]'/);
      assert.match(run.stderr, /stopped before changing anything/);
      const made = api.requests.slice(before);
      assert.ok(made.some((r) => r.path === '/api/v1/namespaces/kube-system/services/kube-dns'));
      assert.deepEqual(made.filter((r) => r.method !== 'GET'), [], 'no write reached the API server');
    });

    it('a switch whose preflight cannot read CoreDNS stops before changing anything', async () => {
      // kubeadm's selector passes; the coredns Deployment (apps/v1) is not something this server has.
      api.upsert(kubeDns({ 'k8s-app': 'kube-dns' }));
      const before = api.requests.length;
      const run = await runSwitch([], env);
      assert.equal(run.status, 1);
      assert.match(run.stderr, /cannot read the coredns Deployment/);
      assert.match(run.stderr, /stopped before changing anything/);
      assert.deepEqual(api.requests.slice(before).filter((r) => r.method !== 'GET'), []);
    });

    it('--mode stub --print-snippet: a Corefile block forwarding to the ClusterIP the lbdns Service has', async () => {
      const run = await runSwitch(['--mode', 'stub', '--print-snippet'], env);
      assert.equal(run.status, 0, run.stderr);
      const [block] = parseCorefile(run.stdout);
      assert.deepEqual(block!.keys, ['lb.cluster.local:53']);
      const forward = block!.directives.find((d) => d.name === 'forward')!;
      assert.deepEqual(forward.args.slice(1).map(forwardHost), ['10.100.7.7']);
      assert.equal(block!.directives.find((d) => d.name === 'cache'), undefined);
    });
  });
});
