/**
 * Slow start through real queries to a real lbdns process with two serving workers: an endpoint
 * made ready by an edit of the objects file comes first rarely at first, then more and more often,
 * the same in every worker (the primary's time travels with the record); endpoints present when
 * lbdns starts are warm; /debug/balance shows each endpoint's ramp factor; a bad annotation is
 * named in a warning. No timing is asserted: shares are compared in the order they were sampled.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { asList, namespaceObject } from '../helpers/objects.ts';
import { answerData, query } from '../helpers/dns-client.ts';
import { within } from '../helpers/wait.ts';

/** The endpoint of `rising` that becomes ready while lbdns runs. */
const NEW = '10.244.8.4';
/** The window of `rising`: long enough to sample many batches inside it on a busy machine. */
const WINDOW = 20;

/** A Service in endpoint mode over 10.244.<net>.1-4; the fourth endpoint ready or not. */
function service(name: string, clusterIP: string, annotations: Record<string, string>, net: number, fourthReady: boolean): unknown[] {
  const all = [1, 2, 3, 4].map((i) => `10.244.${net}.${i}`);
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop', annotations: { 'lbdns.io/answer': 'endpoints', ...annotations } }, spec: { clusterIP, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace: 'shop', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: all.map((ip, i) => ({ addresses: [ip], conditions: { ready: i < 3 || fourthReady } })),
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    },
  ];
}

/** `rising` ramps over the settings' WINDOW; `slow` over an hour (its annotation); `typo` has a bad annotation. */
function objects(fourthReady: boolean): string {
  return asList([
    namespaceObject('shop'),
    ...service('rising', '10.96.8.1', {}, 8, fourthReady),
    ...service('slow', '10.96.8.2', { 'lbdns.io/slow-start-seconds': '3600' }, 9, fourthReady),
    ...service('typo', '10.96.8.3', { 'lbdns.io/slow-start-seconds': 'a minute' }, 10, fourthReady),
  ]);
}

interface Explained {
  endpoints: Array<{ address: string; rampFactor: number; readySince: string | null; expectedFirstShare: number }>;
}

async function explain(server: RunningServer, name: string): Promise<Explained> {
  return (await (await fetch(`http://127.0.0.1:${server.debugPort}/debug/balance?name=${name}.shop.svc.cluster.local`)).json()) as Explained;
}

/** How often `address` came first in `samples` answers for `name`. */
async function firstShare(server: RunningServer, name: string, address: string, samples: number): Promise<number> {
  let first = 0;
  for (let i = 0; i < samples; i++) if (answerData(await query(server.port, `${name}.shop.svc.cluster.local`, 'A'), 'A')[0] === address) first++;
  return first / samples;
}

const settings = `balance:\n  slowStartSeconds: ${WINDOW}\n`;

describe('slow start, end to end (2 workers, objects file)', () => {
  let server: RunningServer;
  let objectsPath: string;
  before(async () => {
    objectsPath = tempFile('objects.yaml', objects(false));
    server = await startLbdns({ objects: objectsPath, config: tempFile('lbdns.yaml', settings), workers: 2 });
  });
  after(async () => {
    await server.stop();
  });

  it('warns about a bad annotation, naming the Service, and ignores it', async () => {
    const line = await server.waitForLog((l) => l.service === 'shop/typo' && l.annotation === 'lbdns.io/slow-start-seconds');
    assert.equal(line.value, 'a minute');
    assert.equal(line.level, 40);
  });

  it('a newly ready endpoint ramps: its share of first answers rises over the window', async () => {
    const rising = NEW;
    const slowNew = NEW.replace('10.244.8.', '10.244.9.');
    writeFileSync(objectsPath, objects(true));
    // Every worker has the change once every answer of a batch holds the new endpoint.
    await within(20_000, async () => {
      for (let i = 0; i < 8; i++) if (!(answerData(await query(server.port, 'rising.shop.svc.cluster.local', 'A'), 'A') as string[]).includes(rising)) return false;
      return true;
    });
    // Sampled in batches until /debug/balance says the ramp is over: bounded by the window (plus
    // slack for a slow machine), not by a batch count, which a fast machine uses up early.
    const batches: number[] = [];
    const deadline = Date.now() + (WINDOW + 60) * 1000;
    while (Date.now() < deadline) {
      const done = !((await explain(server, 'rising')).endpoints.find((e) => e.address === rising)!.rampFactor < 1);
      batches.push(await firstShare(server, 'rising', rising, 150));
      if (done) break;
    }
    assert.ok(batches.length >= 6, `${batches.length} batches`);
    const third = Math.floor(batches.length / 3);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const early = mean(batches.slice(0, third));
    const middle = mean(batches.slice(third, 2 * third));
    const late = mean(batches.slice(2 * third));
    const text = `early ${(early * 100).toFixed(1)}%, middle ${(middle * 100).toFixed(1)}%, late ${(late * 100).toFixed(1)}% over ${batches.length} batches`;
    console.log(`# rising: ${text}`);
    assert.ok(early < middle && middle < late, text);
    // The last batch came after the ramp: a full share (1 of 4), early well below it.
    assert.ok(batches.at(-1)! > 0.15, text);
    assert.ok(batches[0]! < 0.15, text);

    // The hour-long ramp of `slow` has barely begun: its new endpoint is rarely first, and
    // /debug/balance shows its factor below 1 while the others are at full weight.
    const slow = await explain(server, 'slow');
    const fresh = slow.endpoints.find((e) => e.address === slowNew)!;
    assert.ok(fresh.rampFactor >= 0.1 && fresh.rampFactor < 0.2, JSON.stringify(fresh));
    assert.ok(fresh.readySince !== null);
    assert.ok(fresh.expectedFirstShare < 0.07, JSON.stringify(fresh));
    for (const e of slow.endpoints.filter((x) => x.address !== slowNew)) assert.deepEqual([e.rampFactor, e.readySince], [1, null]);
    const share = await firstShare(server, 'slow', slowNew, 600);
    assert.ok(share < 0.08, `first ${(share * 100).toFixed(1)}% of the time (expected about ${(fresh.expectedFirstShare * 100).toFixed(1)}%)`);
  });

  it('a restart of lbdns ramps nothing: what the first full list holds is warm', async () => {
    const restarted = await startLbdns({ objects: objectsPath, config: tempFile('lbdns.yaml', settings), workers: 2 });
    try {
      const slow = await explain(restarted, 'slow');
      for (const e of slow.endpoints) assert.deepEqual([e.rampFactor, e.readySince], [1, null], e.address);
      const slowNew = NEW.replace('10.244.8.', '10.244.9.');
      const share = await firstShare(restarted, 'slow', slowNew, 400);
      assert.ok(share > 0.17, `first ${(share * 100).toFixed(1)}% of the time, as the others (25%)`);
    } finally {
      await restarted.stop();
    }
  });
});
