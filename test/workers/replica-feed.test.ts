/**
 * A serving worker applies the primary's updates a slice at a time, in order, each with the
 * primary's serial, and runs what must follow them (readiness) only after them. The clock is a
 * counter, so what fits in a slice does not depend on the machine.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterView, type ViewUpdate } from '../../src/view/cluster-view.ts';
import { ReplicaFeed } from '../../src/workers/replica-feed.ts';
import type { Service } from '../../src/view/types.ts';

const service = (i: number): Service => ({ namespace: 'default', name: `s${i}`, type: 'ClusterIP', clusterIPs: [`10.96.0.${(i % 250) + 1}`], headless: false, externalName: null, ports: [], publishNotReadyAddresses: false, sessionAffinity: 'None', trafficDistribution: null, annotations: {} });
const upsert = (i: number): ViewUpdate => ({ kind: 'event', event: { op: 'upsert', kind: 'Service', record: service(i) } });
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('the replica feed', () => {
  it('applies a long backlog over several turns of the event loop, in order, with the primary serials', async () => {
    const view = new ClusterView();
    let clock = 0;
    // Every reading of the clock is one unit later: a slice of 5 units holds about 5 updates.
    const feed = new ReplicaFeed(view, 5, () => clock++);
    const applied: ViewUpdate[] = [];
    view.onUpdate((update) => applied.push(update));
    for (let i = 0; i < 100; i++) feed.push(upsert(i), 5000 + i);
    let ready = false;
    feed.then(() => (ready = true));

    await turn();
    assert.ok(applied.length > 0 && applied.length < 10, `${applied.length} applied in the first turn`);
    assert.equal(ready, false);
    let turns = 1;
    while (feed.backlog > 0 && turns < 1000) {
      await turn();
      turns++;
    }
    assert.ok(turns >= 10, `${turns} turns`);
    assert.equal(ready, true);
    assert.equal(view.counts().services, 100);
    assert.equal(view.serial, 5099);
    assert.deepEqual(
      [...view.allServices()].map((s) => s.name),
      Array.from({ length: 100 }, (_, i) => `s${i}`),
    );
  });

  it('runs an action at once when nothing is queued before it, and after the updates that are', async () => {
    const view = new ClusterView();
    const feed = new ReplicaFeed(view);
    const seen: string[] = [];
    feed.then(() => seen.push(`first, ${view.counts().services} services`));
    feed.push(upsert(1), 7000);
    feed.then(() => seen.push(`second, ${view.counts().services} services, serial ${view.serial}`));
    while (feed.backlog > 0) await turn();
    assert.deepEqual(seen, ['first, 0 services', 'second, 1 services, serial 7000']);
  });
});
