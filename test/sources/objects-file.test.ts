/**
 * parseObjectsText: the shapes an objects file comes in (a List as `kubectl get -o yaml|json`
 * prints it, multi-document YAML, one object) give the same records; skipped kinds are counted;
 * a bad object is named by file, document, item, kind and name, and the field.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { ObjectsFileError, parseObjectsText } from '../../src/sources/objects-file.ts';

const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } };
const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { clusterIP: '10.0.0.1', ports: [{ name: 'http', port: 80 }] } };
const endpointSlice = {
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'web-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints: [{ addresses: ['10.1.0.1'], conditions: { ready: true } }],
  ports: [{ name: 'http', port: 8080 }],
};
const endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'old', namespace: 'shop' }, subsets: [{ addresses: [{ ip: '10.1.0.2' }] }] };
const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'shop' }, status: { podIPs: [{ ip: '10.1.0.1' }] } };
const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'shop' }, data: { a: 'b' } };
const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' } };
const ITEMS = [namespace, service, endpointSlice, endpoints, pod, configMap, configMap, deployment];

const list = (items: unknown[]) => ({ apiVersion: 'v1', kind: 'List', items });
const multiDocument = (items: unknown[]) => items.map((item) => stringify(item)).join('---\n');

/** What every shape of ITEMS reads as: the records by kind, and the kinds skipped with their counts. */
function summary(text: string): unknown {
  const { objects, skippedKinds } = parseObjectsText(text, 'objects.yaml');
  return {
    namespaces: objects.namespaces.map((n) => n.name),
    services: objects.services.map((s) => `${s.namespace}/${s.name} ${s.clusterIPs.join(',')}`),
    endpointSlices: objects.endpointSlices.map((s) => `${s.namespace}/${s.name} → ${s.serviceName}: ${s.endpoints.map((e) => e.address).join(' ')}`),
    legacyEndpoints: objects.legacyEndpoints.map((s) => `${s.namespace}/${s.name}: ${s.endpoints.map((e) => e.address).join(' ')}`),
    pods: objects.pods.map((p) => `${p.namespace}/${p.name} ${p.ips.join(',')}`),
    skipped: Object.fromEntries(skippedKinds),
  };
}

const EXPECTED = {
  namespaces: ['shop'],
  services: ['shop/web 10.0.0.1'],
  endpointSlices: ['shop/web-1 → web: 10.1.0.1'],
  legacyEndpoints: ['shop/old: 10.1.0.2'],
  pods: ['shop/web-0 10.1.0.1'],
  skipped: { ConfigMap: 2, Deployment: 1 },
};

describe('parseObjectsText: the shapes of a file', () => {
  const shapes: Array<[string, string]> = [
    ['a List in YAML (kubectl get -o yaml)', stringify(list(ITEMS))],
    ['a List in JSON (kubectl get -o json)', JSON.stringify(list(ITEMS), null, 2)],
    ['a List in JSON after blank lines', `\n\n  ${JSON.stringify(list(ITEMS))}`],
    ['multi-document YAML', multiDocument(ITEMS)],
    ['multi-document YAML with empty documents and a leading ---', `---\n${multiDocument(ITEMS.slice(0, 4))}---\n---\n${multiDocument(ITEMS.slice(4))}`],
    ['multi-document YAML mixing Lists and objects', `${stringify(list(ITEMS.slice(0, 3)))}---\n${multiDocument(ITEMS.slice(3))}`],
    ['flow-style YAML documents after a comment', `# kubectl-free\n${ITEMS.map((item) => stringify(item, { collectionStyle: 'flow' })).join('---\n')}`],
    ['YAML with anchors and aliases', stringify(list([...ITEMS.slice(0, 6), configMap, deployment]), { aliasDuplicateObjects: true })],
  ];
  for (const [name, text] of shapes) it(name, () => assert.deepEqual(summary(text), EXPECTED));

  it('flow-style YAML documents, as the demo cluster writes its items', () => {
    assert.deepEqual(summary(ITEMS.map((item) => stringify(item, { collectionStyle: 'flow' })).join('---\n')), EXPECTED);
  });

  it('reads one JSON object', () => {
    assert.deepEqual(parseObjectsText(JSON.stringify(service), 'one.json').objects.services.map((s) => s.name), ['web']);
  });

  it('reads an empty file, a file of comments and an empty List as no objects', () => {
    for (const text of ['', '# nothing yet\n', '---\n', stringify(list([])), '{"kind":"List","items":[]}']) {
      const { objects, skippedKinds } = parseObjectsText(text, 'empty.yaml');
      assert.deepEqual(objects, { namespaces: [], services: [], endpointSlices: [], legacyEndpoints: [], pods: [] }, JSON.stringify(text));
      assert.equal(skippedKinds.size, 0);
    }
  });
});

describe('parseObjectsText: what is skipped or rejected, and how it is named', () => {
  const badService = { ...service, metadata: { name: 'broken', namespace: 'shop' }, spec: { clusterIP: 'not-an-ip' } };
  // One unreadable object is skipped and named, as the API source does; the rest is served.
  const skipped: Array<[string, string, RegExp]> = [
    ['a bad item of a List: document, item index, kind, name and field', stringify(list([namespace, badService])), /^objects\.yaml: document 1, items\[1\] \(Service shop\/broken\): spec\.clusterIP: /],
    ['a bad document of several: its number', `${stringify(namespace)}---\n${stringify(badService)}`, /^objects\.yaml: document 2 \(Service shop\/broken\): spec\.clusterIP: /],
    ['a bad object in JSON', JSON.stringify(list([service, service, badService])), /^objects\.yaml: document 1, items\[2\] \(Service shop\/broken\): spec\.clusterIP: /],
    ['an object without a name', stringify({ kind: 'Service', metadata: {}, spec: {} }), /^objects\.yaml: document 1 \(Service \?\): metadata\.name: /],
    ['an item without kind', stringify(list([{ metadata: { name: 'x' } }])), /^objects\.yaml: document 1, items\[0\] \(object x\): kind: /],
    ['a document that is a plain string', 'hello\n', /^objects\.yaml: document 1 \(object \?\): \(object\): expected an object/],
    ['a bare JSON array (no kubectl prints one)', JSON.stringify([service]), /^objects\.yaml: document 1 \(object \?\): kind: /],
  ];
  for (const [name, text, message] of skipped) {
    it(`skips ${name}`, () => {
      const parsed = parseObjectsText(text, 'objects.yaml');
      assert.equal(parsed.skippedCount, 1);
      assert.match(parsed.skippedObjects[0] ?? '', message);
    });
  }

  const rejected: Array<[string, string, RegExp]> = [
    ['YAML that does not parse', 'kind: Service\n  metadata: [\n', /^objects\.yaml: document 1: not YAML or JSON: /],
    ['YAML that does not parse in a later document', `${stringify(namespace)}---\nkind: [\n`, /^objects\.yaml: document 2: not YAML or JSON: /],
    ['JSON that does not parse', '{"kind": "List", "items": [', /^objects\.yaml: document 1: not YAML or JSON: /],
  ];
  for (const [name, text, message] of rejected) {
    it(`rejects ${name}`, () => {
      assert.throws(() => parseObjectsText(text, 'objects.yaml'), (error: unknown) => {
        assert.ok(error instanceof ObjectsFileError, String(error));
        assert.match(error.message, message);
        return true;
      });
    });
  }

  it('serves the rest of a file with one bad object', () => {
    const parsed = parseObjectsText(stringify(list([namespace, service, badService])), 'objects.yaml');
    assert.deepEqual(parsed.objects.services.map((s) => `${s.namespace}/${s.name}`), [`${service.metadata.namespace}/${service.metadata.name}`]);
    assert.equal(parsed.skippedCount, 1);
  });
});
