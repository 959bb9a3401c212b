/**
 * `npm run simulate`: how each balancing policy spreads load, compared with kube-proxy.
 *
 * 2,000 clients (in three zones) open 20 connections each to a Service whose endpoints change in
 * three phases (4 endpoints weighted 4:2:1:1; one removed; one added). Each connection goes to the
 * first address of a fresh answer, computed by lbdns's own balancer (src/balance/order.ts).
 * kube-proxy's iptables mode picks an endpoint uniformly per connection (its `statistic --mode
 * random` chain) and knows no weights. Prints each endpoint's share against its target weight
 * share, the largest deviation, and for affinity how many clients moved when an endpoint left.
 */
import { makePlan, type BalancedRecord } from '../src/balance/plan.ts';
import { orderRecords } from '../src/balance/order.ts';
import type { Policy } from '../src/balance/policy.ts';
import { fnv1a } from '../src/balance/plan.ts';
import { ipToBytes } from '../src/net/ip.ts';

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
  return { address: ipToBytes(address), node: null, zone: zones[i % 3] as string, hash: fnv1a(Buffer.from(ipToBytes(address)!).toString('hex')) };
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
