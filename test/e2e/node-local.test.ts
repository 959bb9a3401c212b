/**
 * Node-local mode through the real CLI. In a network namespace the test creates (as a node's
 * host network): lbdns puts 169.254.20.10 on an interface itself, answers `dig @169.254.20.10`
 * there, takes its clients' zone from its Node object, and removes the address on SIGTERM.
 * Against the test API server: the zone comes from GET nodes/<NODE_NAME>.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FakeApiServer, type KubeObject } from '../helpers/fake-apiserver.ts';
import { projectRoot, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { asList } from '../helpers/objects.ts';
import { within } from '../helpers/wait.ts';

// A test that throws before its own stop() must not leave an API server that keeps this file running.
after(() => FakeApiServer.stopAll());

const run = promisify(execFile);
const LOCAL_IP = '169.254.20.10';

function namespacesAllowed(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace (unshare)';
  try {
    execFileSync('unshare', ['--net', 'true'], { stdio: 'ignore' });
    execFileSync('dig', ['-v'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'network namespaces (unshare) or dig are not available here';
  }
}

function node(name: string, zone: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, 'topology.kubernetes.io/zone': zone } } };
}

/** Two nodes in two zones; `zoned` has one endpoint in each and orders by zone in endpoint mode. */
const cluster: KubeObject[] = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } },
  node('node-a', 'zone-a'),
  node('node-b', 'zone-b'),
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'kubernetes', namespace: 'default' }, spec: { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP' }] } },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'zoned', namespace: 'default', annotations: { 'lbdns.io/answer': 'endpoints', 'lbdns.io/policy': 'zone' } },
    spec: { clusterIP: '10.96.0.30', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  },
  {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'zoned-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'zoned' } },
    addressType: 'IPv4',
    endpoints: [
      { addresses: ['10.244.1.10'], conditions: { ready: true }, nodeName: 'node-a', zone: 'zone-a' },
      { addresses: ['10.244.2.10'], conditions: { ready: true }, nodeName: 'node-b', zone: 'zone-b' },
    ],
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
  },
];

interface Explanation {
  client: { address: string; zone: string | null };
  endpoints: Array<{ address: string; zone: string; expectedFirstShare: number }>;
}

/** A network namespace of its own, held by a sleeping process so that it outlives what runs in it. */
async function holdNamespace(): Promise<ChildProcess> {
  const holder = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
  const own = readlinkSync('/proc/self/ns/net');
  await within(10_000, async () => {
    try {
      return readlinkSync(`/proc/${holder.pid}/ns/net`) !== own;
    } catch {
      return false;
    }
  });
  return holder;
}

describe('node-local mode in a network namespace', { skip: namespacesAllowed() }, () => {
  // The node's host network, and a pod on that node: its own namespace, a veth to the node with a
  // /24 address and a default route through the node, as bridge CNIs set pods up.
  let holder: ChildProcess;
  let pod: ChildProcess;
  const enter = async (namespace: ChildProcess, command: string, args: string[]) => (await run('nsenter', [`--net=/proc/${namespace.pid}/ns/net`, command, ...args], { timeout: 20_000 })).stdout;
  const inNamespace = (command: string, args: string[]) => enter(holder, command, args);
  const addresses = async () => inNamespace('ip', ['-o', 'addr', 'show']);

  before(async () => {
    holder = await holdNamespace();
    pod = await holdNamespace();
    await inNamespace('ip', ['link', 'set', 'lo', 'up']);
    await inNamespace('ip', ['link', 'add', 'veth-pod', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(pod.pid)]);
    await inNamespace('ip', ['addr', 'add', '10.244.2.1/24', 'dev', 'veth-pod']);
    await inNamespace('ip', ['link', 'set', 'veth-pod', 'up']);
    for (const args of [['link', 'set', 'lo', 'up'], ['addr', 'add', '10.244.2.5/24', 'dev', 'eth0'], ['link', 'set', 'eth0', 'up'], ['route', 'add', 'default', 'via', '10.244.2.1']]) await enter(pod, 'ip', args);
    // The node's way out: what it does not have leaves and never answers, as on a real node.
    await inNamespace('ip', ['route', 'add', 'blackhole', 'default']);
  });
  after(() => {
    holder.kill('SIGKILL');
    pod.kill('SIGKILL');
  });

  /** lbdns in the node's namespace with the node-local settings (and `nodeLocal` as given), once it serves. */
  async function startOnNode(nodeLocal: string) {
    const settings = tempFile(
      'lbdns.yaml',
      [`listen: ['${LOCAL_IP}:53']`, 'ops: { listen: 127.0.0.1:18080, debugListen: 127.0.0.1:18081 }', 'workers: 1', 'shutdown: { drainSeconds: 0 }', `nodeLocal: ${nodeLocal}`].join('\n'),
    );
    const objects = tempFile('objects.yaml', asList(cluster));
    const child = spawn('nsenter', [`--net=/proc/${holder.pid}/ns/net`, process.execPath, join(projectRoot, 'bin/lbdns.js'), '--config', settings, '--objects', objects, '--upstream', '127.0.0.1:9'], {
      env: { ...process.env, NODE_NAME: 'node-b' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await within(30_000, async () => stderr.includes('serving DNS over UDP and TCP') || child.exitCode !== null);
    assert.match(stderr, /serving DNS over UDP and TCP/, stderr);
    return { child, exited, stderr: () => stderr };
  }

  /** What dig prints when it gets no answer, without throwing. */
  async function digFromPod(name: string): Promise<string> {
    try {
      return await enter(pod, 'dig', [`@${LOCAL_IP}`, name, '+tries=1', '+time=1']);
    } catch (error) {
      return String((error as { stdout?: string }).stdout);
    }
  }

  it(`sets up ${LOCAL_IP} itself, answers there with its node's zone, and removes the address on SIGTERM`, async () => {
    assert.doesNotMatch(await addresses(), /169\.254\.20\.10/, 'a fresh namespace');
    const { child, exited, stderr } = await startOnNode('{}');
    try {

      const up = await addresses();
      assert.match(up, /inet 169\.254\.20\.10\/32 /, `the address is on an interface:\n${up}`);

      const answer = await inNamespace('dig', [`@${LOCAL_IP}`, 'kubernetes.default.svc.cluster.local', '+short', '+tries=1', '+time=2']);
      assert.equal(answer.trim(), '10.96.0.1');
      // From the pod: through its default route to the node, where the address is local.
      const fromPod = await enter(pod, 'dig', [`@${LOCAL_IP}`, 'kubernetes.default.svc.cluster.local', '+short', '+tries=1', '+time=2']);
      assert.equal(fromPod.trim(), '10.96.0.1');
      const podZoned = (await enter(pod, 'dig', [`@${LOCAL_IP}`, 'zoned.default.svc.cluster.local', '+short', '+tries=1', '+time=2'])).trim().split('\n');
      assert.equal(podZoned[0], '10.244.2.10', podZoned.join(' '));
      // The node's zone is zone-b (NODE_NAME=node-b, its Node object's label): the zone-b endpoint comes first, every time.
      for (let i = 0; i < 10; i++) {
        const zoned = (await inNamespace('dig', [`@${LOCAL_IP}`, 'zoned.default.svc.cluster.local', '+short', '+tries=1', '+time=2'])).trim().split('\n');
        assert.equal(zoned[0], '10.244.2.10', `answer ${i}: ${zoned.join(' ')}`);
      }
      const debug = JSON.parse(await inNamespace('curl', ['-sf', `http://127.0.0.1:18081/debug/balance?name=zoned.default.svc.cluster.local&client=${LOCAL_IP}`])) as Explanation;
      assert.equal(debug.client.zone, 'zone-b');
      assert.deepEqual(
        debug.endpoints.map((e) => [e.address, e.zone, e.expectedFirstShare]),
        [
          ['10.244.1.10', 'zone-a', 0],
          ['10.244.2.10', 'zone-b', 1],
        ],
      );

      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr());
      const down = await addresses();
      assert.doesNotMatch(down, /169\.254\.20\.10/, `the address is gone after SIGTERM:\n${down}`);
      assert.doesNotMatch(await inNamespace('ip', ['-o', 'link', 'show']), /nodelocaldns/);
      // Until the next lbdns is up, a pod's query to the address gets nothing back: glibc waits out its timeout.
      assert.match(await digFromPod('kubernetes.default.svc.cluster.local'), /timed out/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('with removeOnExit: false keeps the address after SIGTERM, so pods are refused at once instead of waiting', async () => {
    const { child, exited, stderr } = await startOnNode('{ removeOnExit: false }');
    try {
      assert.match(await enter(pod, 'dig', [`@${LOCAL_IP}`, 'kubernetes.default.svc.cluster.local', '+short', '+tries=1', '+time=2']), /^10\.96\.0\.1$/m);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr());
      assert.match(await addresses(), /inet 169\.254\.20\.10\/32 /, 'the address stays');
      // The node answers "port unreachable": the resolver turns to its next nameserver at once.
      assert.match(await digFromPod('kubernetes.default.svc.cluster.local'), /connection refused/);
      // The next lbdns takes over what was left, and removes it when it stops.
      const next = await startOnNode('{}');
      assert.match(await enter(pod, 'dig', [`@${LOCAL_IP}`, 'kubernetes.default.svc.cluster.local', '+short', '+tries=1', '+time=2']), /^10\.96\.0\.1$/m);
      next.child.kill('SIGTERM');
      assert.equal(await next.exited, 0, next.stderr());
      assert.doesNotMatch(await addresses(), /169\.254\.20\.10/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('node-local mode against the API', () => {
  let api: FakeApiServer;
  before(async () => {
    api = await FakeApiServer.start();
    for (const object of cluster) api.upsert(object);
  });
  after(async () => {
    await api.stop();
  });

  it('reads its zone from GET nodes/$NODE_NAME', async () => {
    const kubeconfig = tempFile('kubeconfig', '');
    api.writeKubeconfig(kubeconfig);
    // The addresses are in place already (setupInterface: false): loopback, which the test may use.
    const settings = tempFile('lbdns.yaml', "nodeLocal: { addresses: ['127.0.0.1'], setupInterface: false }\nkubernetes: { retryMaxSeconds: 2 }\n");
    const server = await startLbdns({ objects: null, config: settings, args: ['--kubeconfig', kubeconfig], env: { NODE_NAME: 'node-a' } });
    try {
      await server.waitForLog((l) => l.msg === "clients' zone: this node's");
      await server.waitForLog((l) => l.msg === 'first sync complete');
      assert.ok(api.requests.some((r) => r.method === 'GET' && r.path === '/api/v1/nodes/node-a' && r.status === 200));
      const response = await fetch(`http://127.0.0.1:${server.debugPort}/debug/balance?name=zoned.default.svc.cluster.local&client=10.244.1.77`);
      const debug = (await response.json()) as Explanation;
      assert.equal(response.status, 200, JSON.stringify(debug));
      assert.equal(debug.client.zone, 'zone-a');
      assert.deepEqual(debug.endpoints.filter((e) => e.expectedFirstShare === 1).map((e) => e.address), ['10.244.1.10']);
    } finally {
      await server.stop();
    }
  });
});
