/**
 * The objects file as a source: formats, reloads on edit and on atomic replace, an unreadable
 * object skipped and named, a version that does not parse or holds nothing rejected while the
 * last good view keeps serving, a file never served half-written, answers while a reload parses.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { within } from '../helpers/wait.ts';
import { closeSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { asList, clusterIpService, namespaceObject } from '../helpers/objects.ts';
import { answerData, buildQuery, query, rcodeOf, udpExchange } from '../helpers/dns-client.ts';
import { generateCluster } from '../../bench/cluster.ts';


const ipOf = async (port: number, name: string) => answerData(await query(port, name, 'A'), 'A')[0];

/**
 * Until its parser thread has started, lbdns loads a small file whole in its serving thread;
 * tests of what the parser thread does wait for it (a server without one goes on after 5 s).
 */
const parserThreadUp = (server: RunningServer) => server.waitForLog((l) => l.msg === 'objects file parser thread ready', 5000).catch(() => undefined);

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

  it('skips one unreadable object with a line naming file, document and field, and serves the rest', async () => {
    const path = tempFile('objects.yaml', asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.1')]));
    const server = await startLbdns({ objects: path });
    try {
      await parserThreadUp(server);
      const bad = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'two', namespace: 'a' }, spec: { clusterIP: '10.96.2.2', ports: [{ name: 'http', port: 'eighty' }] } };
      writeFileSync(path, [namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.1'), bad, clusterIpService('a', 'three', '10.96.3.3')].map((o) => stringify(o)).join('---\n'));
      const line = await server.waitForLog((l) => l.msg === 'skipping an object lbdns cannot read', 3000);
      assert.match(String(line.err), new RegExp(`${path.replaceAll('.', '\\.')}: document 3 \\(Service a/two\\): spec\\.ports\\[0\\]\\.port: `));
      await within(2000, async () => (await ipOf(server.port, 'three.a.svc.cluster.local')) === '10.96.3.3');
      assert.equal(await ipOf(server.port, 'one.a.svc.cluster.local'), '10.96.1.1');
      assert.equal(rcodeOf(await query(server.port, 'two.a.svc.cluster.local', 'A')), 'NXDOMAIN');
      assert.equal(server.logs.filter((l) => l.msg === 'skipping an object lbdns cannot read').length, 1);
    } finally {
      await server.stop();
    }
  });

  it('rejects a version that is not YAML or JSON, naming file and document, and keeps serving the last good one', async () => {
    const path = tempFile('objects.yaml', asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.1')]));
    const server = await startLbdns({ objects: path });
    try {
      await parserThreadUp(server);
      writeFileSync(path, 'items: [ {kind: Service, metadata: {name: x}} ');
      const syntax = await server.waitForLog((l) => l.msg === 'objects file rejected; keeping the previous view' && String(l.err).includes('not YAML'), 3000);
      assert.match(String(syntax.err), /document 1: not YAML or JSON/);
      assert.equal(await ipOf(server.port, 'one.a.svc.cluster.local'), '10.96.1.1');
    } finally {
      await server.stop();
    }
  });

  it('keeps the previous view when the file is emptied, or left with nothing to serve', async () => {
    const path = tempFile('objects.yaml', asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.1')]));
    const server = await startLbdns({ objects: path });
    try {
      await parserThreadUp(server);
      const outcome = (l: { msg: string }) => l.msg === 'objects file rejected; keeping the previous view' || l.msg === 'objects file reloaded';
      for (const [n, content] of ['', asList([]), asList([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'a' } }])].entries()) {
        writeFileSync(path, content);
        const line = await server.waitForLog((l) => outcome(l) && server.logs.filter(outcome).indexOf(l) === n, 3000);
        assert.equal(line.msg, 'objects file rejected; keeping the previous view', `version ${n}`);
        assert.match(String(line.err), /nothing to serve/);
        assert.equal(await ipOf(server.port, 'one.a.svc.cluster.local'), '10.96.1.1');
      }
    } finally {
      await server.stop();
    }
  });

  it('never serves a file that is being written: truncated, then written in pieces', async () => {
    // `kubectl get … > file`: the shell truncates the file, kubectl writes as the API server streams.
    const services = Array.from({ length: 40 }, (_, i) => clusterIpService('a', `svc${i}`, `10.96.5.${i + 1}`));
    const before = [namespaceObject('a'), ...services, clusterIpService('a', 'one', '10.96.1.1')];
    const after = [namespaceObject('a'), ...services, clusterIpService('a', 'two', '10.96.2.2'), clusterIpService('a', 'one', '10.96.1.1')];
    const path = tempFile('objects.yaml', before.map((o) => stringify(o)).join('---\n'));
    const server = await startLbdns({ objects: path });
    try {
      // Pieces end between documents, so that each prefix is a valid smaller cluster without `one`.
      const documents = after.map((o) => `---\n${stringify(o)}`);
      const pieces = Array.from({ length: 5 }, (_, k) => documents.slice(Math.floor((k * documents.length) / 5), Math.floor(((k + 1) * documents.length) / 5)).join(''));
      const answers: string[] = [];
      let writing = true;
      const asking = (async () => {
        while (writing) {
          answers.push(rcodeOf(await query(server.port, 'one.a.svc.cluster.local', 'A')));
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const fd = openSync(path, 'w');
      for (const piece of pieces) {
        writeSync(fd, piece);
        await new Promise((r) => setTimeout(r, 100));
      }
      closeSync(fd);
      await within(3000, async () => (await ipOf(server.port, 'two.a.svc.cluster.local')) === '10.96.2.2');
      writing = false;
      await asking;
      assert.deepEqual(
        answers.filter((rcode) => rcode !== 'NOERROR'),
        [],
      );
      assert.ok(answers.length >= 10, `${answers.length} answers`);
      assert.equal(server.logs.filter((l) => l.msg === 'objects file reloaded').length, 1);
    } finally {
      await server.stop();
    }
  });

  it('keeps answering while a large new version is parsed', async () => {
    // 1,000 Services and 10,000 endpoints as YAML: parsing it takes this machine over a second.
    const cluster = JSON.parse(generateCluster({ services: 1000, headless: 100, clusterIpEndpoints: 10 }).objectsJson) as { items: unknown[] };
    const path = tempFile('objects.yaml', stringify(cluster));
    const server = await startLbdns({ objects: path });
    try {
      cluster.items.push(clusterIpService('ns0', 'marker', '10.99.0.1'));
      const staged = join(dirname(path), '.objects.yaml.tmp');
      writeFileSync(staged, stringify(cluster));
      const answeredAt: number[] = [];
      let asking = true;
      const loop = (async () => {
        while (asking) {
          const reply = await udpExchange(server.port, buildQuery('svc500.ns0.svc.cluster.local', 'A'), 10_000);
          if (reply !== null) answeredAt.push(Date.now());
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const replacedAt = Date.now();
      renameSync(staged, path);
      const reloaded = await server.waitForLog((l) => l.msg === 'objects file reloaded', 30_000);
      asking = false;
      await loop;
      // A thread that parses the file itself answers nothing from shortly after the change (the
      // watch waits 50 ms) until the parse is over, which its "reloaded" line marks.
      const during = answeredAt.filter((at) => at > replacedAt + 500 && at < (reloaded.time as number));
      assert.ok((reloaded.time as number) > replacedAt + 600, `reloaded ${(reloaded.time as number) - replacedAt} ms after the change: too fast to tell`);
      assert.ok(during.length > 0, `no answer between 500 ms after the change and the reload, ${(reloaded.time as number) - replacedAt} ms after it`);
      assert.equal(await ipOf(server.port, 'marker.ns0.svc.cluster.local'), '10.99.0.1');
    } finally {
      await server.stop();
    }
  });

  it('serves the readable objects of a file with a broken one at startup, naming it', async () => {
    const path = tempFile('objects.yaml', asList([namespaceObject('a'), { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's', namespace: 'a', labels: { 'kubernetes.io/service-name': 'x' } }, addressType: 'IPv5', endpoints: [] }, clusterIpService('a', 'one', '10.96.1.1')]));
    const server = await startLbdns({ objects: path });
    try {
      const line = await server.waitForLog((l) => l.msg === 'skipping an object lbdns cannot read');
      assert.match(String(line.err), /items\[1\] \(EndpointSlice a\/s\): addressType: /);
      assert.equal(await ipOf(server.port, 'one.a.svc.cluster.local'), '10.96.1.1');
    } finally {
      await server.stop();
    }
  });

  it('refuses to start on a file that is empty or not YAML, saying why', async () => {
    for (const [content, reason] of [
      ['', /nothing to serve/],
      ['items: [ {kind: Service', /document 1: not YAML or JSON/],
    ] as const) {
      const server = await startLbdns({ objects: tempFile('objects.yaml', content), waitUntilServing: false });
      const exit = new Promise<number | null>((resolve) => server.process.once('exit', resolve));
      const serving = server.waitForLog((l) => l.msg === 'serving DNS over UDP and TCP', 20_000).then(() => 'serving', () => 'exited');
      if ((await serving) === 'serving') {
        await server.stop();
        assert.fail(`started serving ${JSON.stringify(content)}`);
      }
      assert.equal(await exit, 1);
      assert.match(server.stderr(), reason);
    }
  });
});
