/**
 * The objects file as a source: formats, reloads on edit and on atomic replace, and a bad
 * version rejected with file, document and field named while the last good view keeps serving.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { within } from '../helpers/wait.ts';
import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { asList, clusterIpService, namespaceObject } from '../helpers/objects.ts';
import { answerData, query, rcodeOf } from '../helpers/dns-client.ts';


const ipOf = async (port: number, name: string) => answerData(await query(port, name, 'A'), 'A')[0];

describe('objects file', () => {
  it('reads multi-document YAML and JSON as well as a List', async () => {
    const yamlDocs = [namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.1')].map((o) => stringify(o)).join('---\n');
    const fromYaml = await startLbdns({ objects: tempFile('objects.yaml', yamlDocs) });
    const fromJson = await startLbdns({ objects: tempFile('objects.json', JSON.stringify({ kind: 'List', apiVersion: 'v1', items: [namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.2')] })) });
    try {
      assert.equal(await ipOf(fromYaml.port, 'one.a.svc.cluster.local'), '10.96.1.1');
      assert.equal(await ipOf(fromJson.port, 'one.a.svc.cluster.local'), '10.96.1.2');
    } finally {
      await fromYaml.stop();
      await fromJson.stop();
    }
  });

  it('skips kinds it does not serve with one log line per kind', async () => {
    const server = await startLbdns();
    try {
      const line = await server.waitForLog((l) => l.msg === 'skipping objects of a kind lbdns does not serve');
      assert.equal(line.kind, 'ConfigMap');
    } finally {
      await server.stop();
    }
  });

  it('picks up an edit in place and an atomic replace within a second, without restart', async () => {
    const path = tempFile('objects.yaml', asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.1')]));
    const server = await startLbdns({ objects: path });
    try {
      writeFileSync(path, asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.9')]));
      const edited = await within(1000, async () => (await ipOf(server.port, 'one.a.svc.cluster.local')) === '10.96.1.9');

      // The way kubelet and editors replace files: write a new file, rename it over the old one.
      const staged = join(dirname(path), '.objects.yaml.tmp');
      writeFileSync(staged, asList([namespaceObject('a'), clusterIpService('a', 'two', '10.96.2.2')]));
      renameSync(staged, path);
      const replaced = await within(1000, async () => (await ipOf(server.port, 'two.a.svc.cluster.local')) === '10.96.2.2');
      assert.equal(rcodeOf(await query(server.port, 'one.a.svc.cluster.local', 'A')), 'NXDOMAIN');
      console.log(`# edit visible after ${edited.toFixed(0)} ms, replace after ${replaced.toFixed(0)} ms`);
      assert.equal(server.process.exitCode, null);
    } finally {
      await server.stop();
    }
  });

  it('rejects a bad new version naming file, document and field, and keeps serving the last good one', async () => {
    const path = tempFile('objects.yaml', asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.1')]));
    const server = await startLbdns({ objects: path });
    try {
      const bad = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'two', namespace: 'a' }, spec: { clusterIP: '10.96.2.2', ports: [{ name: 'http', port: 'eighty' }] } };
      writeFileSync(path, `${stringify(namespaceObject('a'))}---\n${stringify(bad)}`);
      const line = await server.waitForLog((l) => l.msg === 'objects file rejected; keeping the previous view', 3000);
      assert.match(String(line.err), new RegExp(`${path.replaceAll('.', '\\.')}: document 2 \\(Service a/two\\): spec\\.ports\\[0\\]\\.port: `));
      assert.equal(await ipOf(server.port, 'one.a.svc.cluster.local'), '10.96.1.1');
      assert.equal(rcodeOf(await query(server.port, 'two.a.svc.cluster.local', 'A')), 'NXDOMAIN');

      writeFileSync(path, 'items: [ {kind: Service, metadata: {name: x}} ');
      const syntax = await server.waitForLog((l) => l.msg === 'objects file rejected; keeping the previous view' && String(l.err).includes('not YAML'), 3000);
      assert.match(String(syntax.err), /document 1: not YAML or JSON/);
      assert.equal(await ipOf(server.port, 'one.a.svc.cluster.local'), '10.96.1.1');
    } finally {
      await server.stop();
    }
  });

  it('refuses to start on a bad file, saying where the problem is', async () => {
    const path = tempFile('objects.yaml', asList([namespaceObject('a'), { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's', namespace: 'a', labels: { 'kubernetes.io/service-name': 'x' } }, addressType: 'IPv5', endpoints: [] }]));
    const server = await startLbdns({ objects: path, waitUntilServing: false });
    const code = await new Promise<number | null>((resolve) => server.process.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(server.stderr(), /items\[1\] \(EndpointSlice a\/s\): addressType: /);
  });
});
