/**
 * spec.trafficDistribution: which policy a Service gets (the lbdns.io/policy annotation wins), and
 * the order the plan gives a client placed on a node and in a zone, limiting or ordering.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makePlan, preferred, type BalancedRecord, type PlanOptions } from '../../src/balance/plan.ts';
import { orderRecords } from '../../src/balance/order.ts';
import { serviceBalance } from '../../src/balance/policy.ts';
import { settingsSchema } from '../../src/settings/schema.ts';
import type { Client } from '../../src/balance/client.ts';
import type { Service } from '../../src/view/types.ts';
import { seededRandom as seeded } from '../helpers/random.ts';

const options = (over: Partial<PlanOptions>): PlanOptions => ({ policy: 'zone', affinity: false, clientSort: 'none', maxAnswers: 0, zoneStrict: false, ...over });
const client = (zone: string | null, node: string | null = null): Client => ({ address: null, zone, node, hash: 7 });

/** Records: [zone, node, hinted] each. */
function records(spec: Array<[string, string, boolean]>): BalancedRecord[] {
  return spec.map(([zone, node, hinted], i) => ({ weight: 1, key: String(i), address: null, zones: [zone], zonesHinted: hinted, nodes: [node], nodesHinted: hinted }));
}

const service = (over: Partial<Service>): Service => ({
  namespace: 'shop', name: 'web', type: 'ClusterIP', clusterIPs: [], headless: true, externalName: null, ports: [],
  publishNotReadyAddresses: false, sessionAffinity: 'None', trafficDistribution: null, annotations: {}, ...over,
});

describe('trafficDistribution: the policy', () => {
  const settings = settingsSchema.parse({});
  it('PreferClose and PreferSameZone pick zone, PreferSameNode node, and balance a headless Service', () => {
    for (const [distribution, policy] of [['PreferClose', 'zone'], ['PreferSameZone', 'zone'], ['PreferSameNode', 'node']] as const) {
      const config = serviceBalance(service({ trafficDistribution: distribution }), settings);
      assert.equal(config.policy, policy);
      assert.equal(config.balanced, true);
      assert.equal(config.limitHinted, true, 'limit is the default, as kube-proxy');
      assert.match(config.reason, /trafficDistribution/);
    }
  });
  it('the lbdns.io/policy annotation wins over the spec', () => {
    const config = serviceBalance(service({ trafficDistribution: 'PreferSameNode', annotations: { 'lbdns.io/policy': 'weighted' } }), settings);
    assert.equal(config.policy, 'weighted');
    assert.equal(config.limitHinted, false);
    assert.match(config.reason, /annotation/);
  });
  it('balance.trafficDistribution: order only orders', () => {
    const config = serviceBalance(service({ trafficDistribution: 'PreferClose' }), settingsSchema.parse({ balance: { trafficDistribution: 'order' } }));
    assert.equal(config.policy, 'zone');
    assert.equal(config.limitHinted, false);
  });
});

describe('trafficDistribution: the order', () => {
  // 0,1 zone a (node n1, n2); 2,3 zone b (node n3, n4).
  const hinted = records([['a', 'n1', true], ['a', 'n2', true], ['b', 'n3', true], ['b', 'n4', true]]);
  const unhinted = records([['a', 'n1', false], ['a', 'n2', false], ['b', 'n3', false], ['b', 'n4', false]]);

  it('limits to the hinted zone, every time, and falls back to all when the zone has none', () => {
    const plan = makePlan(options({ limitHinted: true }), hinted);
    for (let seed = 0; seed < 200; seed++) assert.deepEqual(orderRecords(plan, client('a'), seeded(seed)).sort(), [0, 1]);
    assert.deepEqual(orderRecords(plan, client('c'), seeded(1)).sort(), [0, 1, 2, 3]);
  });

  it('orders (does not limit) when no hint names the zone, or under order', () => {
    for (const plan of [makePlan(options({ limitHinted: true }), unhinted), makePlan(options({ limitHinted: false }), hinted)]) {
      for (let seed = 0; seed < 200; seed++) {
        const order = orderRecords(plan, client('b'), seeded(seed));
        assert.deepEqual(order.slice(0, 2).sort(), [2, 3]);
        assert.deepEqual(order.slice(2).sort(), [0, 1]);
      }
    }
  });

  it('PreferSameNode: the node, then the zone, then the rest, each record once', () => {
    const plan = makePlan(options({ policy: 'node', limitHinted: false }), hinted);
    for (let seed = 0; seed < 200; seed++) {
      const order = orderRecords(plan, client('a', 'n2'), seeded(seed));
      assert.equal(order[0], 1);
      assert.equal(order[1], 0);
      assert.deepEqual(order.slice(2).sort(), [2, 3]);
    }
    // A node without records: the zone's first.
    assert.deepEqual(orderRecords(plan, client('b', 'n9'), seeded(4)).slice(0, 2).sort(), [2, 3]);
  });

  it('PreferSameNode limits to the node when hints name it, else to the zone', () => {
    const plan = makePlan(options({ policy: 'node', limitHinted: true }), hinted);
    for (let seed = 0; seed < 50; seed++) assert.deepEqual(orderRecords(plan, client('a', 'n2'), seeded(seed)), [1]);
    assert.deepEqual(orderRecords(plan, client('b', 'n9'), seeded(2)).sort(), [2, 3]);
  });

  it('SRV priority: preferred is the node under node, the zone under zone', () => {
    const node = makePlan(options({ policy: 'node' }), hinted);
    assert.deepEqual([0, 1, 2, 3].map((i) => preferred(node, i, 'n3', 'b')), [false, false, true, false]);
    assert.deepEqual([0, 1, 2, 3].map((i) => preferred(node, i, 'n9', 'b')), [false, false, true, true]);
    const zone = makePlan(options({}), hinted);
    assert.deepEqual([0, 1, 2, 3].map((i) => preferred(zone, i, 'n3', 'a')), [true, true, false, false]);
  });
});
