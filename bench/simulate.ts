/**
 * `npm run simulate`: how each balancing policy spreads load, compared with kube-proxy.
 *
 * 2,000 clients (in three zones) open 20 connections each to a Service whose endpoints change in
 * three phases (4 endpoints weighted 4:2:1:1; one removed; one added). Each connection goes to the
 * first address of a fresh answer, computed by lbdns's own balancer (src/balance/order.ts).
 * kube-proxy's iptables mode picks an endpoint uniformly per connection (its `statistic --mode
 * random` chain) and knows no weights. Prints each endpoint's share against its target weight
 * share, the largest deviation, and for affinity how many clients moved when an endpoint left.
 * Then slow start: a fourth endpoint becomes ready, and at 25, 50, 75 and 100 % of the window (a
 * fake clock) its share of connections is compared with what the ramp gives it (within ±5 points).
 */
import { makePlan, type BalancedRecord } from '../src/balance/plan.ts';
import { orderRecords } from '../src/balance/order.ts';
import type { Policy } from '../src/balance/policy.ts';
import { fnv1a } from '../src/balance/plan.ts';
import { ipToBytes } from '../src/net/ip.ts';
import { rampFactor, refreshStepMs } from '../src/balance/slow-start.ts';

interface SimEndpoint {
  ip: string;
  weight: number;
  zone: string;
}

const phases: Array<{ name: string; endpoints: SimEndpoint[] }> = [
  {
    name: '4 endpoints, weights 4:2:1:1',
    endpoints: [
      { ip: '10.244.0.1', weight: 4, zone: 'a' },
      { ip: '10.244.0.2', weight: 2, zone: 'b' },
      { ip: '10.244.0.3', weight: 1, zone: 'c' },
      { ip: '10.244.0.4', weight: 1, zone: 'a' },
    ],
  },
  { name: '10.244.0.2 removed', endpoints: [] },
  { name: '10.244.0.5 added (weight 2, zone b)', endpoints: [] },
];
phases[1]!.endpoints = phases[0]!.endpoints.filter((e) => e.ip !== '10.244.0.2');
phases[2]!.endpoints = [...phases[1]!.endpoints, { ip: '10.244.0.5', weight: 2, zone: 'b' }];

const CLIENTS = 2000;
const CONNECTIONS = 20;
const zones = ['a', 'b', 'c'];
const clients = Array.from({ length: CLIENTS }, (_, i) => {
  const address = `10.245.${Math.floor(i / 250)}.${(i % 250) + 1}`;
  return { address: ipToBytes(address), zone: zones[i % 3] as string, node: null as string | null, hash: fnv1a(Buffer.from(ipToBytes(address)!).toString('hex')) };
});

type Strategy = { name: string; target: 'weights' | 'uniform'; pick: (endpoints: SimEndpoint[], client: (typeof clients)[number]) => number };

function policyStrategy(name: string, policy: Policy, affinity: boolean): Strategy {
  return {
    name,
    target: policy === 'shuffle' && !affinity ? 'uniform' : 'weights',
    pick: (endpoints, client) => {
      const records: BalancedRecord[] = endpoints.map((e) => ({ weight: e.weight, zones: [e.zone], key: e.ip, address: ipToBytes(e.ip) }));
      const plan = makePlan({ policy, affinity, clientSort: 'none', maxAnswers: 0, zoneStrict: false }, records);
      return orderRecords(plan, client)[0] as number;
    },
  };
}

const strategies: Strategy[] = [
  policyStrategy('shuffle', 'shuffle', false),
  policyStrategy('weighted', 'weighted', false),
  policyStrategy('zone (clients spread over 3 zones)', 'zone', false),
  policyStrategy('weighted + ClientIP affinity', 'weighted', true),
  { name: 'kube-proxy iptables (random)', target: 'weights', pick: (endpoints) => Math.floor(Math.random() * endpoints.length) },
];

console.log(`${CLIENTS} clients x ${CONNECTIONS} connections per phase; share = connections an endpoint received\n`);
for (const strategy of strategies) {
  console.log(`## ${strategy.name}`);
  console.log('| phase | endpoint (weight) | share | target | deviation |');
  console.log('| --- | --- | ---: | ---: | ---: |');
  let previousFirst: Map<number, string> | null = null;
  for (const phase of phases) {
    const counts = new Map<string, number>();
    const firstByClient = new Map<number, string>();
    clients.forEach((client, index) => {
      for (let c = 0; c < CONNECTIONS; c++) {
        const ip = phase.endpoints[strategy.pick(phase.endpoints, client)]!.ip;
        counts.set(ip, (counts.get(ip) ?? 0) + 1);
        if (c === 0) firstByClient.set(index, ip);
      }
    });
    const total = CLIENTS * CONNECTIONS;
    const weightSum = phase.endpoints.reduce((s, e) => s + e.weight, 0);
    let worst = 0;
    for (const e of phase.endpoints) {
      const share = (counts.get(e.ip) ?? 0) / total;
      const target = strategy.target === 'uniform' ? 1 / phase.endpoints.length : e.weight / weightSum;
      worst = Math.max(worst, Math.abs(share - target));
      console.log(`| ${phase.name} | ${e.ip} (${e.weight}) | ${(share * 100).toFixed(1)}% | ${(target * 100).toFixed(1)}% | ${((share - target) * 100).toFixed(1)} pt |`);
    }
    let moved = '';
    if (previousFirst && strategy.name.includes('affinity')) {
      let changed = 0;
      let orphaned = 0;
      for (const [client, ip] of firstByClient) {
        const before = previousFirst.get(client);
        if (before !== ip) changed++;
        if (!phase.endpoints.some((e) => e.ip === before)) orphaned++;
      }
      moved = `; clients that changed endpoint: ${((changed / CLIENTS) * 100).toFixed(1)}% (those whose endpoint left: ${((orphaned / CLIENTS) * 100).toFixed(1)}%)`;
    }
    console.log(`| ${phase.name} | largest deviation | | | ${(worst * 100).toFixed(1)} pt${moved} |`);
    previousFirst = firstByClient;
  }
  console.log('');
}
console.log('Targets: shuffle aims at equal shares; the others (and kube-proxy, for comparison) at the weights.');
console.log('Zone: each client’s own zone first, so shares follow where clients are; its deviation from the weights is the price of locality.');

// Slow start: 3 endpoints at full weight, a 4th (weight 2 under weighted) first seen ready at t = 0.
const WINDOW_SECONDS = 60;
const rampEndpoints: SimEndpoint[] = [
  { ip: '10.244.0.1', weight: 1, zone: 'a' },
  { ip: '10.244.0.2', weight: 1, zone: 'b' },
  { ip: '10.244.0.3', weight: 1, zone: 'c' },
  { ip: '10.244.0.9', weight: 2, zone: 'a' },
];
const readySince = [undefined, undefined, undefined, 0];
// Answers are prepared again once per step: just before a point, the answer served was prepared
// a whole step earlier, the largest lag the refresh allows. The shares are measured there.
const stepMs = refreshStepMs(WINDOW_SECONDS);
console.log(`## slow start (window ${WINDOW_SECONDS} s, ramp 10% → 100%): 10.244.0.9 became ready at t = 0`);
console.log(`Connections just before each point, answered as prepared one refresh step (${stepMs / 1000} s) earlier; target: the ramp at the point.\n`);
console.log('| policy | time in window | ramp factor at the point | as prepared | share of 10.244.0.9 | target | deviation | within ±5 pt |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
let slowStartWorst = 0;
for (const policy of ['shuffle', 'weighted'] as const) {
  for (const progress of [0.25, 0.5, 0.75, 1]) {
    const point = progress * WINDOW_SECONDS * 1000;
    const ramps = readySince.map((since) => rampFactor(since, point - stepMs, WINDOW_SECONDS));
    const rampsAtPoint = readySince.map((since) => rampFactor(since, point, WINDOW_SECONDS));
    const records: BalancedRecord[] = rampEndpoints.map((e, i) => ({ weight: e.weight, zones: [e.zone], key: e.ip, address: ipToBytes(e.ip), ramp: ramps[i] }));
    const plan = makePlan({ policy, affinity: false, clientSort: 'none', maxAnswers: 0, zoneStrict: false }, records);
    let newFirst = 0;
    for (const client of clients) for (let c = 0; c < CONNECTIONS; c++) if (orderRecords(plan, client)[0] === 3) newFirst++;
    const share = newFirst / (CLIENTS * CONNECTIONS);
    const draw = (i: number) => (policy === 'shuffle' ? 1 : rampEndpoints[i]!.weight) * rampsAtPoint[i]!;
    const target = draw(3) / [0, 1, 2, 3].reduce((sum, i) => sum + draw(i), 0);
    const deviation = share - target;
    slowStartWorst = Math.max(slowStartWorst, Math.abs(deviation));
    console.log(`| ${policy} | ${progress * 100}% | ${rampsAtPoint[3]!.toFixed(3)} | ${ramps[3]!.toFixed(3)} | ${(share * 100).toFixed(1)}% | ${(target * 100).toFixed(1)}% | ${(deviation * 100).toFixed(1)} pt | ${Math.abs(deviation) <= 0.05 ? 'yes' : 'NO'} |`);
  }
}
console.log(`\nSlow start: largest deviation from the ramp ${(slowStartWorst * 100).toFixed(1)} pt (bound ±5 pt).`);
if (slowStartWorst > 0.05) process.exitCode = 1;
// --- spec.trafficDistribution ---
// Endpoints: zone a on nodes n0 and n1, zone b on n2, none in zone c; every endpoint hinted for its
// own zone and node (as the EndpointSlice controller does). Clients on n0…n5 (n0,n1: a; n2,n3: b;
// n4,n5: c), their node as placement will give it.
const topologyEndpoints = [
  { ip: '10.244.9.1', zone: 'a', node: 'n0' },
  { ip: '10.244.9.2', zone: 'a', node: 'n1' },
  { ip: '10.244.9.3', zone: 'b', node: 'n2' },
];
const nodeZone: Record<string, string> = { n0: 'a', n1: 'a', n2: 'b', n3: 'b', n4: 'c', n5: 'c' };
const topologyRecords: BalancedRecord[] = topologyEndpoints.map((e) => ({ weight: 1, zones: [e.zone], zonesHinted: true, nodes: [e.node], nodesHinted: true, key: e.ip, address: ipToBytes(e.ip) }));
const distributions: Array<{ name: string; policy: Policy; limitHinted: boolean }> = [
  { name: 'shuffle (no trafficDistribution, as CoreDNS)', policy: 'shuffle', limitHinted: false },
  { name: 'PreferClose / PreferSameZone, limit (default)', policy: 'zone', limitHinted: true },
  { name: 'PreferClose / PreferSameZone, order', policy: 'zone', limitHinted: false },
  { name: 'PreferSameNode, limit (default)', policy: 'node', limitHinted: true },
  { name: 'PreferSameNode, order', policy: 'node', limitHinted: false },
];
const ANSWERS = 20_000;
console.log('## spec.trafficDistribution (3 endpoints: zone a on n0, n1; zone b on n2; none in zone c)');
console.log('| policy | client node (zone) | first on own node | first in own zone | answers holding only own-zone records |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const distribution of distributions) {
  const plan = makePlan({ policy: distribution.policy, affinity: false, clientSort: 'none', maxAnswers: 0, zoneStrict: false, limitHinted: distribution.limitHinted }, topologyRecords);
  for (const node of ['n0', 'n2', 'n3', 'n4']) {
    const zone = nodeZone[node]!;
    let onNode = 0;
    let inZone = 0;
    let onlyZone = 0;
    for (let i = 0; i < ANSWERS; i++) {
      const order = orderRecords(plan, { address: null, zone, node, hash: i });
      const first = topologyEndpoints[order[0]!]!;
      if (first.node === node) onNode++;
      if (first.zone === zone) inZone++;
      if (order.every((index) => topologyEndpoints[index]!.zone === zone)) onlyZone++;
    }
    const pct = (n: number) => `${((n / ANSWERS) * 100).toFixed(1)}%`;
    console.log(`| ${distribution.name} | ${node} (${zone}) | ${pct(onNode)} | ${pct(inZone)} | ${pct(onlyZone)} |`);
  }
}
console.log('Zone c has no endpoint: its clients get every endpoint under every policy (the fallback).');
