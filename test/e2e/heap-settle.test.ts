import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { asList, headlessService, namespaceObject } from '../helpers/objects.ts';
import { answerData, query } from '../helpers/dns-client.ts';
import { loadNativeAddon } from '../../src/util/native-addon.ts';

const COLLECTED = 'collected the garbage of a bulk change of the cluster view';

/** 1,000 headless Services of 10 endpoints each: 12,001 records, a bulk change. */
function bigCluster(extra: unknown[] = []): string {
  const items: unknown[] = [namespaceObject('bulk')];
  for (let s = 0; s < 1000; s++) {
    const addresses = Array.from({ length: 10 }, (_, e) => `10.${100 + Math.floor(s / 250)}.${s % 250}.${e + 1}`);
    items.push(...headlessService('bulk', `svc${s}`, addresses));
  }
  return asList([...items, ...extra]);
}

describe('the garbage of a bulk change of the view', () => {
  let server: RunningServer | undefined;
  after(() => server?.stop());

  it('is collected once the first full load is in, and not after a small reload', async () => {
    const objects = tempFile('objects.yaml', bigCluster());
    server = await startLbdns({ objects });
    const collected = await server.waitForLog((l) => l.msg === COLLECTED, 15_000);
    assert.ok((collected.records as number) >= 12_000, `the load counted whole: ${JSON.stringify(collected)}`);
    const heap = collected.heapUsedMiB as { before: number; after: number };
    assert.ok(heap.after <= heap.before, `a full collection frees, it does not grow the heap: ${JSON.stringify(heap)}`);
    const rss = collected.rssMiB as { before: number; afterCollection: number; afterRelease?: number };
    if (loadNativeAddon() instanceof Error) {
      assert.equal(collected.release, undefined, 'no release without the addon');
    } else {
      // The objects file was parsed in a thread that has ended, and the load replaced what the
      // empty view held: whole pages malloc holds free, which the release gives back.
      assert.deepEqual(Object.keys(collected.release as object).sort(), ['ms', 'released'], JSON.stringify(collected));
      assert.equal((collected.release as { released: boolean }).released, true, JSON.stringify(collected));
      assert.equal(typeof rss.afterRelease, 'number', JSON.stringify(rss));
    }
    assert.deepEqual(answerData(await query(server.port, 'svc999.bulk.svc.cluster.local', 'A'), 'A').length, 10, 'serving all along');

    // One more Service: a reload of the file that changes two records.
    const next = join(dirname(objects), 'next.yaml');
    writeFileSync(next, bigCluster(headlessService('bulk', 'late', ['10.99.0.1'])));
    renameSync(next, objects);
    await server.waitForLog((l) => l.msg === 'objects file reloaded', 10_000);
    assert.deepEqual(answerData(await query(server.port, 'late.bulk.svc.cluster.local', 'A'), 'A'), ['10.99.0.1']);
    // Past the quiet time (2 s) a collection would have taken.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.equal(server.logs.filter((l) => l.msg === COLLECTED).length, 1, 'a change of two records is left to V8');
  });
});
