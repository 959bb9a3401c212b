/**
 * Explaining an answer with dig: `dig <service> TXT CH` from a client in forward.allowedClients
 * gets TXT lines that say what /debug/balance says in JSON for the same client (policy, placement,
 * each endpoint's weight and share, why records are trimmed); a client outside allowedClients
 * gets REFUSED. Real CLI, real dig, distinct loopback sources.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { asList, namespaceObject } from '../helpers/objects.ts';
import { run, skipWithoutDig } from '../helpers/tools.ts';

const skip = skipWithoutDig;

function service(name: string, annotations: Record<string, string>, endpoints: { ip: string; zone: string }[]): unknown[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'shop', annotations },
      spec: { clusterIP: `10.96.8.${name.length}`, ports: [{ name: 'http', port: 8080, protocol: 'TCP', targetPort: 8080 }] },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace: 'shop', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: true }, zone: e.zone })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  ];
}

// 12 endpoints: more than the TXT answer lists, so it must say how many it left out.
const many = Array.from({ length: 12 }, (_, i) => ({ ip: `10.244.2.${i + 1}`, zone: i % 2 === 0 ? 'zone-a' : 'zone-b' }));
const objects = asList([
  namespaceObject('shop'),
  ...service('checkout', { 'lbdns.io/answer': 'endpoints', 'lbdns.io/policy': 'weighted', 'lbdns.io/weights': '10.244.0.1=4,10.244.0.2=2' }, [
    { ip: '10.244.0.1', zone: 'zone-a' },
    { ip: '10.244.0.2', zone: 'zone-b' },
    { ip: '10.244.0.3', zone: 'zone-b' },
  ]),
  ...service('zonal', { 'lbdns.io/answer': 'endpoints', 'lbdns.io/policy': 'zone' }, many),
]);

// Only 127.0.1.0/24 may recurse, so it may ask for explanations; 127.0.0.1 may not.
const settings = 'balance:\n  clientZones:\n    127.0.1.0/24: zone-b\nforward:\n  allowedClients: [127.0.1.0/24]\n';

let server: RunningServer;
before(async () => {
  if (skip) return;
  server = await startLbdns({ objects: tempFile('objects.yaml', objects), config: tempFile('lbdns.yaml', settings) });
});
after(async () => {
  await server?.stop();
});

async function dig(source: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(server.port), '-b', source, '+tries=1', '+time=2', ...args]);
  return stdout;
}

/** The TXT strings of `dig +short`, unquoted, in order. */
async function explain(source: string, name: string): Promise<string[]> {
  const out = await dig(source, '+short', name, 'TXT', 'CH');
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as string);
}

interface Explained {
  policy: string;
  maxAnswers: number;
  client: { address: string; zone: string | null };
  endpoints: { address: string; weight: number; weightFrom: string; answered: boolean; expectedFirstShare: number | null }[];
}

async function debugBalance(name: string, client: string): Promise<Explained> {
  const response = await fetch(`http://127.0.0.1:${server.debugPort}/debug/balance?name=${name}&client=${client}`);
  assert.equal(response.status, 200);
  return (await response.json()) as Explained;
}

/** `key=value` pairs of a line. */
function fields(line: string): Record<string, string> {
  return Object.fromEntries(line.split(' ').filter((w) => w.includes('=')).map((w) => w.split('=', 2) as [string, string]));
}

function agree(lines: string[], json: Explained, client: string): void {
  const head = lines.find((l) => l.startsWith('service '));
  assert.ok(head, `a service line in ${JSON.stringify(lines)}`);
  assert.equal(fields(head).policy, json.policy);
  assert.equal(Number(fields(head).maxAnswers), json.maxAnswers);
  const placed = lines.find((l) => l.startsWith('client '));
  assert.ok(placed);
  assert.equal(placed.split(' ')[1], client);
  assert.equal(fields(placed).zone, json.client.zone ?? '-');
  const listed = lines.filter((l) => l.startsWith('endpoint '));
  assert.ok(listed.length > 0);
  const byAddress = new Map(json.endpoints.map((e) => [e.address, e]));
  for (const line of listed) {
    const address = line.split(' ')[1] as string;
    const e = byAddress.get(address);
    assert.ok(e, `${address} is one of /debug/balance's endpoints`);
    const f = fields(line);
    assert.equal(Number(f.weight), e.weight);
    assert.equal(f.from, e.weightFrom);
    assert.equal(Number(f.share), Number((e.expectedFirstShare ?? 0).toFixed(4)), line);
  }
  const counts = lines.find((l) => l.startsWith('endpoints '));
  assert.ok(counts);
  const answered = json.endpoints.filter((e) => e.answered).length;
  assert.equal(Number(fields(counts).answered), answered);
  assert.equal(Number(fields(counts).listed) + Number(fields(counts).omitted), answered);
  assert.equal(Number(fields(counts).listed), listed.length);
  for (const line of lines) assert.ok(Buffer.byteLength(line) <= 255, line);
}

describe('dig <service> TXT CH', { skip }, () => {
  it('tells an allowed client what /debug/balance tells for it: weights and shares', async () => {
    const lines = await explain('127.0.1.20', 'checkout.shop.svc.cluster.local');
    agree(lines, await debugBalance('checkout.shop.svc.cluster.local', '127.0.1.20'), '127.0.1.20');
    const top = lines.find((l) => l.startsWith('endpoint '));
    assert.match(top ?? '', /^endpoint 10\.244\.0\.1 share=0\.5714 weight=4 /);
  });

  it('caps the endpoints listed, says how many it left out, and why records are trimmed (zone)', async () => {
    const lines = await explain('127.0.1.20', 'zonal.shop.svc.cluster.local');
    agree(lines, await debugBalance('zonal.shop.svc.cluster.local', '127.0.1.20'), '127.0.1.20');
    const counts = fields(lines.find((l) => l.startsWith('endpoints ')) as string);
    assert.ok(Number(counts.omitted) > 0, JSON.stringify(counts));
    assert.ok(lines.some((l) => l.startsWith('trimmed zone ordering: the 6 endpoints in zone-b first')), lines.join('\n'));
  });

  it('refuses a client outside forward.allowedClients', async () => {
    const out = await dig('127.0.0.1', 'checkout.shop.svc.cluster.local', 'TXT', 'CH');
    assert.match(out, /status: REFUSED/);
    assert.doesNotMatch(out, /ANSWER: [1-9]/);
  });

  it('answers NXDOMAIN for a cluster name that is no Service, and keeps refusing CH names outside the zone', async () => {
    assert.match(await dig('127.0.1.20', 'nope.shop.svc.cluster.local', 'TXT', 'CH'), /status: NXDOMAIN/);
    assert.match(await dig('127.0.1.20', 'version.bind', 'TXT', 'CH'), /status: REFUSED/);
  });
});
