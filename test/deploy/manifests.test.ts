/**
 * deploy/: every overlay renders with `kubectl kustomize`, every object validates against the
 * Kubernetes schemas (kubernetes-models), and the settings in each ConfigMap pass lbdns's own
 * validation. Then what each mode promises an operator, checked on the rendered objects.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { projectRoot } from '../helpers/lbdns-process.ts';
import { parseSettings } from '../../src/settings/schema.ts';
import { forwardHost, parseCorefile } from '../../src/settings/corefile.ts';
import { skipWithoutKubectl } from '../helpers/tools.ts';

const skip = skipWithoutKubectl;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

function render(overlay: string): K8sObject[] {
  const text = execFileSync('kubectl', ['kustomize', join(projectRoot, 'deploy/overlays', overlay)], { encoding: 'utf8' });
  return parseAllDocuments(text).map((d) => d.toJS() as K8sObject);
}

/** The kubernetes-models class for an object, by its group, version and kind. */
async function modelFor(object: K8sObject): Promise<new (data: unknown) => { validate(): void }> {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  const path = group ? `kubernetes-models/${group}/${version}/${object.kind}` : `kubernetes-models/${version}/${object.kind}`;
  const module = (await import(path)) as Record<string, new (data: unknown) => { validate(): void }>;
  return module[object.kind] ?? (module.default as unknown as new (data: unknown) => { validate(): void });
}

const find = (objects: K8sObject[], kind: string, name?: string) => objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

/** A Deployment or DaemonSet, loosely typed. */
interface Workload {
  metadata: { labels?: Record<string, string> };
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: Record<string, any> } };
}

/** What kubeadm installs for cluster DNS (test/deploy/fixtures/kubeadm-kube-dns.yaml). */
function kubeadmObjects(): K8sObject[] {
  return parseAllDocuments(readFileSync(join(projectRoot, 'test/deploy/fixtures/kubeadm-kube-dns.yaml'), 'utf8')).map((d) => d.toJS() as K8sObject);
}

/** `existing` after kubectl's strategic merge of `patch` into it (offline: kubectl patch --local). */
function strategicMerge(existing: K8sObject, patch: K8sObject): K8sObject {
  const dir = mkdtempSync(join(tmpdir(), 'lbdns-merge-'));
  try {
    writeFileSync(join(dir, 'existing.json'), JSON.stringify(existing));
    writeFileSync(join(dir, 'patch.json'), JSON.stringify(patch));
    const merged = execFileSync('kubectl', ['patch', '--local', '-f', join(dir, 'existing.json'), '--type', 'strategic', '--patch-file', join(dir, 'patch.json'), '-o', 'json'], { encoding: 'utf8' });
    return JSON.parse(merged) as K8sObject;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * RSS of lbdns with the manifests' settings, by serving threads (`npm run bench:memory`, MiB):
 * with every cache full and churned by new names at 1,000 Services / 10,000 endpoints (what any
 * pod can keep up in a small cluster, so the request covers it and node pressure does not evict
 * lbdns first), and the highest peak up to 10,000 Services / 100,000 endpoints, caches churned and
 * everything relisted (the limit stays a quarter above it).
 */
const MEASURED_MIB: Record<number, { cachesFullAt1000Services: number; peakUpTo10000Services: number }> = {
  1: { cachesFullAt1000Services: 306, peakUpTo10000Services: 490 },
  2: { cachesFullAt1000Services: 421, peakUpTo10000Services: 618 },
};

/** A Kubernetes memory quantity in MiB. */
function mebibytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity);
  assert.ok(match, `a memory quantity: ${quantity}`);
  const scale: Record<string, number> = { Ki: 1 / 1024, Mi: 1, Gi: 1024, K: 1000 / 1048576, M: 1e6 / 1048576, G: 1e9 / 1048576 };
  return Number(match[1]) * (match[2] ? scale[match[2]]! : 1 / 1048576);
}

/** Whether an equality selector (a Service's, or matchLabels) selects pods with these labels. */
const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([key, value]) => labels[key] === value);

describe('deploy/ overlays', { skip }, () => {
  for (const overlay of ['replacement', 'stub', 'node-local']) {
    it(`${overlay}: renders, validates against the Kubernetes schemas, and its settings pass lbdns's validation`, async () => {
      const objects = render(overlay);
      assert.ok(objects.length >= 5);
      for (const object of objects) {
        const Model = await modelFor(object);
        assert.doesNotThrow(() => new Model(object).validate(), `${object.kind} ${object.metadata.name}`);
      }
      const configMap = find(objects, 'ConfigMap', 'lbdns') as { data: Record<string, string> } | undefined;
      assert.ok(configMap, 'the lbdns ConfigMap, under a fixed name so kubelet updates it in place');
      assert.doesNotThrow(() => parseSettings(parseYaml(configMap.data['lbdns.yaml']!), 'ConfigMap lbdns'));
      const rules = (find(objects, 'ClusterRole', 'lbdns') as unknown as { rules: Array<{ resources: string[]; verbs: string[] }> }).rules;
      for (const resource of ['services', 'endpointslices', 'namespaces', 'pods']) {
        assert.ok(rules.some((r) => r.resources.includes(resource) && r.verbs.includes('list') && r.verbs.includes('watch')), resource);
      }
    });
  }

  it('replacement: a hardened Deployment whose pods kube-dns selects, and no Service of its own', () => {
    const objects = render('replacement');
    assert.equal(objects.filter((o) => o.kind === 'Service').length, 0, 'the overlay leaves the kube-dns Service to kubeadm');
    const deployment = find(objects, 'Deployment', 'lbdns') as unknown as Workload;
    const pod = deployment.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    const container = pod.containers[0];
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(container.securityContext.capabilities, { add: ['NET_BIND_SERVICE'], drop: ['ALL'] });
    assert.equal(container.readinessProbe.httpGet.path, '/ready');
    assert.equal(container.livenessProbe.httpGet.path, '/health');
    assert.ok(find(objects, 'PodDisruptionBudget'));
    assert.ok(find(objects, 'HorizontalPodAutoscaler'));
    assert.ok(pod.volumes.some((v: { configMap?: { name: string } }) => v.configMap?.name === 'lbdns'));
  });

  it('replacement: after `kubectl apply` onto kubeadm\'s objects, kube-dns selects the lbdns pods and its ports reach them', () => {
    const cluster = kubeadmObjects();
    const rendered = render('replacement');
    // What the apply leaves in the cluster: rendered objects kubeadm also has are merged into
    // kubeadm's (its objects carry no last-applied annotation, so apply's three-way merge has no
    // original and its patch is the rendered object itself), the others are created as rendered.
    const after = cluster.map((existing) => {
      const mine = rendered.find((o) => o.kind === existing.kind && o.metadata.name === existing.metadata.name && (o.metadata.namespace ?? 'kube-system') === existing.metadata.namespace);
      return mine ? strategicMerge(existing, mine) : existing;
    });
    const service = find(after, 'Service', 'kube-dns') as unknown as { spec: { selector: Record<string, string>; clusterIP: string; ports: Array<{ port: number; targetPort: number | string; protocol: string }> } };
    const lbdns = find(rendered, 'Deployment', 'lbdns') as unknown as Workload;
    const podLabels = lbdns.spec.template.metadata.labels;
    assert.ok(selects(service.spec.selector, podLabels), `kube-dns selects ${JSON.stringify(service.spec.selector)}, lbdns pods have ${JSON.stringify(podLabels)}`);
    assert.equal(service.spec.clusterIP, '10.96.0.10', 'the cluster DNS IP kubelet hands pods is untouched');
    const containerPorts = lbdns.spec.template.spec.containers[0].ports as Array<{ name: string; containerPort: number; protocol: string }>;
    for (const port of service.spec.ports) {
      assert.ok(
        containerPorts.some((p) => p.protocol === port.protocol && (p.containerPort === port.targetPort || p.name === port.targetPort)),
        `kube-dns port ${port.port}/${port.protocol} → ${port.targetPort} lands on an lbdns container port`,
      );
    }
  });

  it('replacement: lbdns\'s own selectors leave CoreDNS\'s pods alone, and kubeadm still finds one DNS Deployment', () => {
    const rendered = render('replacement');
    const coredns = find(kubeadmObjects(), 'Deployment', 'coredns') as unknown as Workload;
    const corednsPodLabels = coredns.spec.template.metadata.labels;
    const deployment = find(rendered, 'Deployment', 'lbdns') as unknown as Workload;
    const pdb = find(rendered, 'PodDisruptionBudget', 'lbdns') as unknown as { spec: { selector: { matchLabels: Record<string, string> } } };
    assert.ok(selects(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels));
    assert.ok(!selects(deployment.spec.selector.matchLabels, corednsPodLabels), 'the lbdns Deployment does not adopt CoreDNS pods');
    assert.ok(!selects(pdb.spec.selector.matchLabels, corednsPodLabels), 'the lbdns disruption budget does not count CoreDNS pods');
    // kubeadm lists Deployments labelled k8s-app=kube-dns to find CoreDNS on upgrade, and fails on two.
    assert.equal(deployment.metadata.labels?.['k8s-app'], undefined);
  });

  it('stub: its own Service at a fixed ClusterIP, and a Corefile block that forwards the sub-zone there without caching', () => {
    const objects = render('stub');
    const service = find(objects, 'Service', 'lbdns') as unknown as { spec: { clusterIP: string } };
    assert.ok(isIP(service.spec.clusterIP), 'CoreDNS forwards to addresses only');
    const settings = parseSettings(parseYaml((find(objects, 'ConfigMap', 'lbdns') as unknown as { data: Record<string, string> }).data['lbdns.yaml']!));
    const blocks = parseCorefile(readFileSync(join(projectRoot, 'deploy/overlays/stub/Corefile.snippet'), 'utf8'));
    assert.equal(blocks.length, 1);
    const block = blocks[0]!;
    assert.deepEqual(block.keys, [`${settings.zones[0]}:53`]);
    const forward = block.directives.filter((d) => d.name === 'forward');
    assert.equal(forward.length, 1);
    const [from, ...targets] = forward[0]!.args;
    assert.equal(from, '.');
    assert.ok(targets.length > 0);
    for (const target of targets) {
      assert.ok(isIP(forwardHost(target)), `forward target ${target} is an IP address`);
      assert.equal(forwardHost(target), service.spec.clusterIP, `forward target ${target} is the lbdns Service's ClusterIP`);
    }
    assert.equal(block.directives.find((d) => d.name === 'cache'), undefined, 'CoreDNS\'s cache would hand every pod the same order');
  });

  it('node-local: a host-network DaemonSet at 169.254.20.10 that sets up the address itself (NET_ADMIN) and reads its Node’s zone', () => {
    const objects = render('node-local');
    assert.equal(find(objects, 'Deployment'), undefined);
    const daemonSet = find(objects, 'DaemonSet') as unknown as Workload;
    const pod = daemonSet.spec.template.spec;
    assert.equal(pod.hostNetwork, true, 'kubelet’s clusterDNS names an address on the node');
    assert.equal(pod.dnsPolicy, 'Default', 'lbdns must not depend on cluster DNS');
    assert.equal(pod.securityContext.sysctls, undefined, 'the kubelet refuses net.* sysctls on the host network');
    const container = pod.containers[0];
    assert.deepEqual([...container.securityContext.capabilities.add].sort(), ['NET_ADMIN', 'NET_BIND_SERVICE']);
    assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
    // A non-root process gets no effective capability from `add`: NET_ADMIN needs root.
    assert.equal(pod.securityContext.runAsUser ?? container.securityContext.runAsUser, 0);
    assert.equal(container.image, (find(render('replacement'), 'Deployment', 'lbdns') as unknown as Workload).spec.template.spec.containers[0].image, 'the same image as the Deployment, which switch.sh --image replaces');

    const env = container.env as Array<{ name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
    assert.equal(env.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
    assert.equal(env.find((e) => e.name === 'LBDNS_NODE_ZONE'), undefined, 'pod topology labels are missing before Kubernetes 1.35');
    const rules = (find(objects, 'ClusterRole', 'lbdns') as unknown as { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> }).rules;
    assert.deepEqual(rules.filter((r) => r.resources.includes('nodes')), [
      { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
      { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
    ]);

    const settings = parseSettings(parseYaml((find(objects, 'ConfigMap', 'lbdns') as unknown as { data: Record<string, string> }).data['lbdns.yaml']!));
    assert.deepEqual(settings.nodeLocal?.addresses, ['169.254.20.10']);
    assert.equal(settings.nodeLocal?.setupInterface, true);
    assert.deepEqual(settings.listen, ['169.254.20.10:53'], 'the node-local address only: never the node’s own addresses');
    assert.equal(settings.balance.answer, 'clusterIP', 'endpoint answers stay off unless a Service opts in');
    assert.equal(settings.balance.policy, 'zone');
    // No flag overrides these settings, and the container's ports are the ones lbdns listens on.
    assert.deepEqual(container.args, ['--config', '/etc/lbdns/lbdns.yaml']);
    const ports = container.ports as Array<{ name: string; containerPort: number; hostPort?: number; protocol: string }>;
    assert.deepEqual(ports.filter((p) => p.containerPort === 53).map((p) => p.protocol).sort(), ['TCP', 'UDP']);
    const opsPort = Number(settings.ops.listen.split(':').pop());
    const metrics = ports.find((p) => p.name === 'metrics');
    assert.equal(metrics?.containerPort, opsPort);
    for (const port of ports) assert.equal(port.hostPort ?? port.containerPort, port.containerPort, `${port.name}: on the host network the container port is the node's`);
    assert.equal(container.readinessProbe.httpGet.port, 'metrics');
    assert.equal(container.livenessProbe.httpGet.port, 'metrics');
  });

  it('replacement and stub: list and watch Nodes (client placement by pod CIDR and zone), never get or write them', () => {
    for (const overlay of ['replacement', 'stub']) {
      const rules = (find(render(overlay), 'ClusterRole', 'lbdns') as unknown as { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> }).rules;
      assert.deepEqual(rules.filter((r) => r.resources.includes('nodes')), [{ apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] }], overlay);
    }
  });

  it('replacement and stub: the autoscaler owns the replica count, pods spread over zones and nodes without ever waiting for one, at cluster-critical priority', () => {
    for (const overlay of ['replacement', 'stub']) {
      const objects = render(overlay);
      const deployment = find(objects, 'Deployment', 'lbdns') as unknown as Workload;
      const hpa = find(objects, 'HorizontalPodAutoscaler', 'lbdns') as unknown as { spec: { minReplicas: number; scaleTargetRef: { kind: string; name: string } } };
      assert.equal(deployment.spec.replicas, undefined, `${overlay}: a replica count in the Deployment would reset the autoscaler's on every apply`);
      assert.deepEqual([hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name], ['Deployment', 'lbdns']);
      assert.ok(hpa.spec.minReplicas >= 2, `${overlay}: two replicas at least`);
      const pod = deployment.spec.template.spec;
      assert.equal(pod.priorityClassName, 'system-cluster-critical');
      assert.equal(pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution, undefined, `${overlay}: a required anti-affinity leaves replicas Pending once they outnumber nodes`);
      const spread = pod.topologySpreadConstraints as Array<{ topologyKey: string; whenUnsatisfiable: string; maxSkew: number; labelSelector: { matchLabels: Record<string, string> } }>;
      assert.deepEqual(spread.map((c) => c.topologyKey).sort(), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
      for (const constraint of spread) {
        assert.equal(constraint.whenUnsatisfiable, 'ScheduleAnyway', `${overlay}: ${constraint.topologyKey} is a preference`);
        assert.equal(constraint.maxSkew, 1);
        assert.ok(selects(constraint.labelSelector.matchLabels, deployment.spec.template.metadata.labels), `${overlay}: ${constraint.topologyKey} counts lbdns's own pods`);
      }
    }
  });

  for (const [overlay, kind] of [['replacement', 'Deployment'], ['stub', 'Deployment'], ['node-local', 'DaemonSet']] as const) {
    it(`${overlay}: memory requested and limited from what lbdns measurably uses with the settings it ships`, () => {
      const objects = render(overlay);
      const settings = parseSettings(parseYaml((find(objects, 'ConfigMap', 'lbdns') as unknown as { data: Record<string, string> }).data['lbdns.yaml']!));
      const workload = find(objects, kind) as unknown as Workload;
      const resources = workload.spec.template.spec.containers[0].resources as { requests: { memory: string }; limits: { memory: string } };
      const measured = MEASURED_MIB[settings.workers ?? 0];
      assert.ok(measured, `${overlay}: no measurement for workers: ${settings.workers}; run npm run bench:memory and size the manifest from it`);
      assert.ok(mebibytes(resources.requests.memory) >= measured.cachesFullAt1000Services, `${overlay}: the request ${resources.requests.memory} covers ${measured.cachesFullAt1000Services} MiB`);
      assert.ok(mebibytes(resources.limits.memory) >= measured.peakUpTo10000Services * 1.25, `${overlay}: the limit ${resources.limits.memory} leaves a quarter above the ${measured.peakUpTo10000Services} MiB peak`);
    });
  }

  it('ships a Grafana dashboard over lbdns’s metrics', () => {
    const path = join(projectRoot, 'deploy/grafana/lbdns.json');
    assert.ok(existsSync(path));
    const dashboard = JSON.parse(readFileSync(path, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const metric of ['lbdns_dns_requests_total', 'lbdns_dns_responses_total', 'lbdns_dns_request_duration_seconds_bucket', 'lbdns_cache_hits_total', 'lbdns_forward_healthy', 'lbdns_kubernetes_last_event_timestamp_seconds', 'lbdns_balanced_answers_total']) {
      assert.ok(exprs.includes(metric), metric);
    }
  });
});
