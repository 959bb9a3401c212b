/**
 * What applications see: glibc's getaddrinfo (getent) and Node's dns.lookup in a pod-like network
 * namespace, asking lbdns for a weighted Service whose endpoints share the pod's /24. glibc sorts
 * addresses by RFC 6724 (rule 9 puts the longest common prefix with the pod first); lbdns's
 * clientSort keeps its chosen first address first, so the shares the applications use match the
 * weights. A control Service with clientSort none shows the order that glibc throws away.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../helpers/lbdns-process.ts';
import { asList, namespaceObject } from '../helpers/objects.ts';
import { skipWithoutNamespaces } from '../helpers/tools.ts';

const run = promisify(execFile);

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

describe('getaddrinfo in a pod-like network namespace', { skip: skipWithoutNamespaces }, () => {
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

  it('keeps trafficDistribution’s zone first through glibc’s re-sort (PreferClose, ordered and limited)', async () => {
    const work = mkdtempSync(join(tmpdir(), 'lbdns-pod-'));
    // The pod (10.97.1.5) is in zone-b; zone-a's endpoints share its /24, so RFC 6724 rule 9 would put them first.
    const endpoints = [
      { ip: '10.97.1.1', zone: 'zone-a' },
      { ip: '10.97.1.2', zone: 'zone-a' },
      { ip: '10.97.1.3', zone: 'zone-a' },
      { ip: '10.97.9.1', zone: 'zone-b' },
      { ip: '10.97.9.2', zone: 'zone-b' },
    ];
    const zonal = (name: string, hinted: boolean, annotations: Record<string, string> = {}): unknown[] => [
      { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', annotations: { 'lbdns.io/answer': 'endpoints', ...annotations } }, spec: { clusterIP: '10.96.1.1', trafficDistribution: 'PreferClose', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${name}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: true }, zone: e.zone, ...(hinted ? { hints: { forZones: [{ name: e.zone }] } } : {}) })),
        ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      },
    ];
    writeFileSync(join(work, 'objects.yaml'), asList([namespaceObject('default'), ...zonal('web', false), ...zonal('limited', true), ...zonal('control', false, { 'lbdns.io/client-sort': 'none' })]));
    const lookups = 100;
    await run('unshare', ['--mount', '--net', '--fork', 'bash', join(projectRoot, 'test/helpers/pod-netns.sh')], {
      env: { ...process.env, LBDNS_NODE_ZONE: 'zone-b', NODE: process.execPath, LBDNS: join(projectRoot, 'bin/lbdns.js'), OBJECTS: join(work, 'objects.yaml'), WORK: work, LOOKUPS: String(lookups), NAMES: 'web limited control' },
      timeout: 120_000,
    });
    const results = JSON.parse(readFileSync(join(work, 'results.json'), 'utf8')) as Record<string, Record<'getent' | 'node', string[]>>;
    const inZone = (ip: string) => ip.startsWith('10.97.9.');
    const shares: Record<string, number> = {};
    for (const name of ['web', 'limited', 'control'])
      for (const resolver of ['getent', 'node'] as const) {
        assert.equal(results[name]![resolver].length, lookups);
        shares[`${name}/${resolver}`] = results[name]![resolver].filter(inZone).length / lookups;
      }
    console.log(`# zone-b first-address shares over ${lookups} lookups: ${JSON.stringify(shares)}`);
    for (const resolver of ['getent', 'node']) {
      assert.ok(shares[`web/${resolver}`]! >= 0.99, `web/${resolver}: ${shares[`web/${resolver}`]}`);
      assert.equal(shares[`limited/${resolver}`], 1);
    }
    // Without the trim glibc puts a zone-a address (sharing the pod's /24) first.
    assert.ok(shares['control/getent']! < 0.1, `control/getent: ${shares['control/getent']}`);
  });
});
