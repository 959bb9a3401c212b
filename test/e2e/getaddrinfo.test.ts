/**
 * What applications see: glibc's getaddrinfo (getent) and Node's dns.lookup in a pod-like network
 * namespace, asking lbdns for a weighted Service whose endpoints share the pod's /24. glibc sorts
 * addresses by RFC 6724 (rule 9 puts the longest common prefix with the pod first); lbdns's
 * clientSort keeps its chosen first address first, so the shares the applications use match the
 * weights. A control Service with clientSort none shows the order that glibc throws away.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../helpers/lbdns-process.ts';
import { asList, namespaceObject } from '../helpers/objects.ts';

const run = promisify(execFile);

function namespacesAllowed(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace (unshare)';
  try {
    execFileSync('unshare', ['--mount', '--net', '--fork', 'true'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'network namespaces are not allowed here (unshare failed)';
  }
}

const weights: Record<string, number> = { '10.97.1.1': 4, '10.97.1.2': 2, '10.97.1.3': 1, '10.97.1.4': 1 };

function weightedService(name: string, annotations: Record<string, string>): unknown[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', annotations }, spec: { clusterIP: '10.96.1.1', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: Object.keys(weights).map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    },
  ];
}

describe('getaddrinfo in a pod-like network namespace', { skip: namespacesAllowed() }, () => {
  it('gives applications the weighted first address (4:2:1:1) despite glibc’s RFC 6724 sort', async () => {
    const work = mkdtempSync(join(tmpdir(), 'lbdns-pod-'));
    const base = { 'lbdns.io/answer': 'endpoints', 'lbdns.io/policy': 'weighted', 'lbdns.io/weights': Object.entries(weights).map(([ip, w]) => `${ip}=${w}`).join(',') };
    writeFileSync(join(work, 'objects.yaml'), asList([namespaceObject('default'), ...weightedService('web', base), ...weightedService('control', { ...base, 'lbdns.io/client-sort': 'none' })]));
    const lookups = 400;
    await run('unshare', ['--mount', '--net', '--fork', 'bash', join(projectRoot, 'test/helpers/pod-netns.sh')], {
      env: { ...process.env, NODE: process.execPath, LBDNS: join(projectRoot, 'bin/lbdns.js'), OBJECTS: join(work, 'objects.yaml'), WORK: work, LOOKUPS: String(lookups), NAMES: 'web control' },
      timeout: 120_000,
    });
    const results = JSON.parse(readFileSync(join(work, 'results.json'), 'utf8')) as Record<string, Record<'getent' | 'node', string[]>>;
    const total = Object.values(weights).reduce((a, b) => a + b, 0);
    const summary: Record<string, Record<string, number>> = {};
    for (const resolver of ['getent', 'node'] as const) {
      const counts = new Map<string, number>();
      for (const first of results.web![resolver]) counts.set(first, (counts.get(first) ?? 0) + 1);
      summary[`web/${resolver}`] = Object.fromEntries(counts);
      let chiSquare = 0;
      for (const [ip, weight] of Object.entries(weights)) {
        const expected = (weight / total) * lookups;
        chiSquare += ((counts.get(ip) ?? 0) - expected) ** 2 / expected;
      }
      assert.equal(results.web![resolver].length, lookups);
      assert.ok(chiSquare < 16.27, `${resolver}: chi-square ${chiSquare.toFixed(2)} for ${JSON.stringify(Object.fromEntries(counts))}`);
      const control = results.control![resolver];
      summary[`control/${resolver}`] = Object.fromEntries([...new Set(control)].map((ip) => [ip, control.filter((c) => c === ip).length]));
    }
    console.log(`# first addresses over ${lookups} lookups: ${JSON.stringify(summary)}`);
    // Without the trim, glibc puts 10.97.1.4 (31 bits in common with 10.97.1.5) first almost always.
    const controlFourth = results.control!.getent.filter((ip) => ip === '10.97.1.4').length;
    assert.ok(controlFourth > lookups * 0.9, `control: 10.97.1.4 first in ${controlFourth} of ${lookups}`);
  });
});
