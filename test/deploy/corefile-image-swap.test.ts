/**
 * README "From a Corefile": the patch it gives, merged by kubectl into kubeadm's full CoreDNS
 * Deployment, yields a pod lbdns can run as: the container's args name the mounted Corefile,
 * kubeadm's Corefile puts the ops routes on every probe and scrape port the pod declares, DNS on
 * its DNS port, and the pod has what lbdns needs beyond CoreDNS (the port-53 sysctl, its measured
 * memory, a fixed number of serving threads).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { projectRoot } from '../helpers/lbdns-process.ts';
import { coreDnsArgs, readCorefile, translateCorefile } from '../../src/settings/corefile.ts';
import { parseSettings } from '../../src/settings/schema.ts';
import { parseHostPort } from '../../src/net/host-port.ts';
import { skipWithoutKubectl } from '../helpers/tools.ts';

const skip = skipWithoutKubectl;

/** The YAML patch in README's "From a Corefile" section. */
function readmePatch(): string {
  const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### From a Corefile'));
  const match = /kubectl -n kube-system patch deployment coredns --patch '\n([^']+)'/.exec(section);
  assert.ok(match, 'README "From a Corefile" holds a kubectl patch of the coredns Deployment');
  return match[1]!;
}

interface Container {
  name: string;
  image: string;
  args: string[];
  ports: Array<{ containerPort: number; name: string; protocol: string }>;
  volumeMounts: Array<{ name: string; mountPath: string }>;
  livenessProbe: { httpGet: { path: string; port: number } };
  readinessProbe: { httpGet: { path: string; port: number } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
}

describe('README: the coredns Deployment with lbdns’s image', { skip }, () => {
  const fixture = join(projectRoot, 'test/deploy/fixtures/kubeadm-coredns-deployment.yaml');
  const merged = JSON.parse(execFileSync('kubectl', ['patch', '--local', '-f', fixture, '--type', 'strategic', '--patch', readmePatch(), '-o', 'json'], { encoding: 'utf8' }));
  const pod = merged.spec.template.spec;
  const container = pod.containers.find((c: Container) => c.name === 'coredns') as Container;

  it('runs the lbdns image on the Corefile the Deployment mounts', () => {
    assert.match(container.image, /lbdns/);
    const { values } = parseArgs({ args: coreDnsArgs(container.args), options: { corefile: { type: 'string' }, workers: { type: 'string' } }, strict: true });
    const mount = container.volumeMounts.find((m) => m.name === 'config-volume')!;
    const volume = pod.volumes.find((v: { name: string }) => v.name === 'config-volume');
    const item = volume.configMap.items.find((i: { key: string }) => i.key === 'Corefile');
    assert.equal(values.corefile, `${mount.mountPath}/${item.path}`);
    assert.equal(values.workers, '2', 'serving threads fixed, not one per node CPU');
  });

  it('kubeadm’s Corefile serves DNS on the pod’s DNS ports, /health and /ready where the probes ask, /metrics where the scrape port is', () => {
    const path = join(projectRoot, 'test/settings/corefiles/kubeadm-1.32.Corefile');
    const settings = parseSettings(translateCorefile(readCorefile(readFileSync(path, 'utf8'), path).blocks).settings);
    const dnsPorts = new Set(settings.listen.map((l) => parseHostPort(l)!.port));
    for (const port of container.ports.filter((p) => p.name.startsWith('dns'))) assert.ok(dnsPorts.has(port.containerPort), `DNS on ${port.containerPort}`);
    const http = [settings.ops.listen, ...(settings.ops.alsoListen ?? [])].map((l) => parseHostPort(l)!);
    const served = (port: number) => http.some((a) => a.port === port && (a.host === '0.0.0.0' || a.host === '::'));
    assert.ok(served(container.livenessProbe.httpGet.port), `/health on ${container.livenessProbe.httpGet.port}`);
    assert.ok(served(container.readinessProbe.httpGet.port), `/ready on ${container.readinessProbe.httpGet.port}`);
    assert.ok(served(container.ports.find((p) => p.name === 'metrics')!.containerPort), '/metrics on the metrics port');
  });

  it('lets lbdns (UID 65532) bind port 53, and gives it the lbdns Deployment’s measured memory', () => {
    assert.deepEqual(pod.securityContext?.sysctls, [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '53' }]);
    const base = parseAllDocuments(readFileSync(join(projectRoot, 'deploy/base/deployment.yaml'), 'utf8'))
      .map((d) => d.toJS())
      .find((o) => o?.kind === 'Deployment');
    const lbdns = base.spec.template.spec.containers[0];
    assert.deepEqual(container.resources, lbdns.resources);
    assert.equal(parse(readFileSync(join(projectRoot, 'deploy/base/lbdns.yaml'), 'utf8')).workers, 2, 'the figures are for 2 serving threads');
  });
});
