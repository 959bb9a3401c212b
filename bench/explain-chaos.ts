// `npx tsx bench/explain-chaos.ts`: what a CH TXT explanation costs for a 10,000-endpoint Service,
// in process: the first query builds it (once per view change), the rest render the capped lines.
import { pino } from 'pino';
import dnsPacket from 'dns-packet';
import { parseObjectsText } from '../src/sources/objects-file.ts';
import { ClusterView } from '../src/view/cluster-view.ts';
import { parseSettings } from '../src/settings/schema.ts';
import { ZoneRouter } from '../src/resolve/router.ts';
import { QueryHandler } from '../src/server/handler.ts';
const items: unknown[] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } }, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'big', namespace: 'shop', annotations: { 'lbdns.io/answer': 'endpoints', 'lbdns.io/policy': 'weighted' } }, spec: { clusterIP: '10.96.9.9', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }] } }];
for (let f = 0; f < 10000; f += 1000) items.push({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `b${f}`, namespace: 'shop', labels: { 'kubernetes.io/service-name': 'big' } }, addressType: 'IPv4', endpoints: Array.from({ length: 1000 }, (_, j) => { const i = f + j; return { addresses: [`10.100.${i >> 8}.${i & 255}`], conditions: { ready: true } }; }), ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
const view = new ClusterView();
view.replaceAll(parseObjectsText(JSON.stringify({ apiVersion: 'v1', kind: 'List', items }), 'x').objects);
const settings = parseSettings({ workers: 1 });
const handler = new QueryHandler({ router: new ZoneRouter({ view, settings, serverAddresses: () => [] }), settings, state: { ready: true }, log: pino({ level: 'silent' }) });
const q = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'TXT', name: 'big.shop.svc.cluster.local', class: 'CH' }] });
let t = performance.now(); const r = handler.handle(q, 'tcp', '127.0.0.1') as Buffer; const first = performance.now() - t;
const N = 20000; t = performance.now(); for (let i = 0; i < N; i++) handler.handle(q, 'tcp', '127.0.0.1'); const per = (performance.now() - t) / N;
console.log(`10,000 endpoints: first CH TXT query ${first.toFixed(1)} ms, then ${(per * 1000).toFixed(1)} µs/query; response ${r.length} bytes, ${dnsPacket.decode(r).answers?.length} TXT records`);
