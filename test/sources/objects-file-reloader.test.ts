/**
 * The objects file's reloader when its parser thread dies: a new thread is started and told which
 * records the view holds, so the next version still removes what it no longer has.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { ClusterView } from '../../src/view/cluster-view.ts';
import { ObjectsFileReloader, readObjectsFile } from '../../src/sources/objects-file.ts';
import { tempFile } from '../helpers/lbdns-process.ts';
import { asList, clusterIpService, namespaceObject } from '../helpers/objects.ts';

describe('the objects file reloader', () => {
  it('replaces a parser thread that died, and the next version still deletes what it lacks', async () => {
    const first = asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.1'), clusterIpService('a', 'two', '10.96.2.2')]);
    const path = tempFile('objects.yaml', first);
    const lines: Array<{ msg: string }> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as { msg: string }) });
    const view = new ClusterView();
    view.replaceAll(readObjectsFile(path).objects);
    const reloader = new ObjectsFileReloader(path, view, log);
    reloader.loaded(first);
    try {
      const parser = (reloader as unknown as { parser: { worker: Worker } }).parser;
      await parser.worker.terminate();
      writeFileSync(path, asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.9')]));
      reloader.changed();
      for (let waited = 0; !lines.some((l) => l.msg === 'objects file reloaded'); waited += 20) {
        assert.ok(waited < 10_000, JSON.stringify(lines));
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(lines.some((l) => l.msg === 'objects file parser stopped; a new one starts at the next change'));
      assert.deepEqual(view.service('a', 'one')?.clusterIPs, ['10.96.1.9']);
      assert.equal(view.service('a', 'two'), undefined);
    } finally {
      reloader.close();
    }
  });
});
