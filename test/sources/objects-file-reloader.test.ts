/**
 * The objects file's reloader and its parser threads: a thread is started for one version and
 * ended once it is in (its heap goes back to the system), and what the view holds is handed from
 * one thread to the next, so each version is still compared with the last. A thread that dies
 * leaves only the view's own record of what it holds, and the next version still removes what it
 * no longer has.
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

type Line = { msg: string; upserts?: number; deletes?: number };

/** A reloader over `text` as loaded at startup, sending every version to a parser thread (none is loaded in the serving thread). */
function start(text: string) {
  const path = tempFile('objects.yaml', text);
  const lines: Line[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Line) });
  const view = new ClusterView();
  view.replaceAll(readObjectsFile(path).objects);
  const reloader = new ObjectsFileReloader(path, view, log, { loadHereMaxBytes: 0 });
  reloader.loaded(text);
  const internals = reloader as unknown as { thread: { worker: Worker | null } | null; loading: boolean };
  return { path, lines, view, reloader, internals };
}

async function until(what: string, done: () => boolean, lines: Line[]): Promise<void> {
  for (let waited = 0; !done(); waited += 20) {
    assert.ok(waited < 20_000, `${what}: ${JSON.stringify(lines)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const count = (lines: Line[], msg: string) => lines.filter((l) => l.msg === msg).length;

describe('the objects file reloader', () => {
  it('ends each parser thread once its version is in, and still compares the next version with the last', async () => {
    const { path, lines, view, reloader, internals } = start(asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.1'), clusterIpService('a', 'two', '10.96.2.2')]));
    try {
      // The text loaded at startup is fingerprinted by a thread, which then ends.
      await until('startup text fingerprinted', () => count(lines, 'objects file fingerprinted') === 1 && internals.thread === null && !internals.loading, lines);

      writeFileSync(path, asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.9'), clusterIpService('a', 'two', '10.96.2.2')]));
      reloader.changed();
      await until('first reload', () => count(lines, 'objects file reloaded') === 1 && internals.thread === null && !internals.loading, lines);
      assert.deepEqual(view.service('a', 'one')?.clusterIPs, ['10.96.1.9']);
      // Only what differs from the startup version: that thread's fingerprints reached this one.
      assert.deepEqual(lines.filter((l) => l.msg === 'objects file reloaded').map((l) => [l.upserts, l.deletes]), [[1, 0]]);

      writeFileSync(path, asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.9'), clusterIpService('a', 'three', '10.96.3.3')]));
      reloader.changed();
      await until('second reload', () => count(lines, 'objects file reloaded') === 2 && internals.thread === null && !internals.loading, lines);
      assert.equal(view.service('a', 'two'), undefined);
      assert.deepEqual(view.service('a', 'three')?.clusterIPs, ['10.96.3.3']);
      assert.deepEqual(lines.filter((l) => l.msg === 'objects file reloaded').map((l) => [l.upserts, l.deletes]), [[1, 0], [1, 1]]);
    } finally {
      reloader.close();
    }
  });

  it('keeps the last good view on a bad file, and a good version after it still applies', async () => {
    const { path, lines, view, reloader, internals } = start(asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.1')]));
    try {
      writeFileSync(path, 'items: [ {{{ not yaml');
      reloader.changed();
      await until('bad version rejected', () => count(lines, 'objects file rejected; keeping the previous view') === 1 && internals.thread === null && !internals.loading, lines);
      assert.deepEqual(view.service('a', 'one')?.clusterIPs, ['10.96.1.1']);

      writeFileSync(path, asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.2')]));
      reloader.changed();
      await until('good version applied', () => count(lines, 'objects file reloaded') === 1 && internals.thread === null, lines);
      assert.deepEqual(view.service('a', 'one')?.clusterIPs, ['10.96.1.2']);
      assert.deepEqual(lines.filter((l) => l.msg === 'objects file reloaded').map((l) => [l.upserts, l.deletes]), [[1, 0]]);
    } finally {
      reloader.close();
    }
  });

  it('replaces a parser thread that died, and the next version still deletes what it lacks', async () => {
    const { path, lines, view, reloader, internals } = start(asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.1'), clusterIpService('a', 'two', '10.96.2.2')]));
    try {
      // The thread fingerprinting the startup text dies before it can hand anything back.
      await internals.thread!.worker!.terminate();
      await until('the dead thread noticed', () => count(lines, 'objects file parser stopped; a new one starts at the next change') === 1 && !internals.loading, lines);
      writeFileSync(path, asList([namespaceObject('a'), clusterIpService('a', 'one', '10.96.1.9')]));
      reloader.changed();
      await until('reload after the death', () => count(lines, 'objects file reloaded') === 1, lines);
      assert.deepEqual(view.service('a', 'one')?.clusterIPs, ['10.96.1.9']);
      assert.equal(view.service('a', 'two'), undefined);
    } finally {
      reloader.close();
    }
  });
});
