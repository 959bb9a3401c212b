/**
 * The worker pool for real: the primary's serving thread and worker threads serving a demo view
 * on loopback ports. A worker that dies is started again on the same ports while the primary
 * keeps answering; workers that keep dying end in onFailure. A change of the view made just after
 * a relay was answered leaves no worker with the route from before it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { WorkerPool } from '../../src/workers/pool.ts';
import { ClusterView } from '../../src/view/cluster-view.ts';
import { parseObjectsText, readObjectsFile } from '../../src/sources/objects-file.ts';
import { parseSettings } from '../../src/settings/schema.ts';
import { ServingThread, listenAddresses } from '../../src/server/serving.ts';
import { demoObjects } from '../helpers/lbdns-process.ts';
import { asList, headlessService } from '../helpers/objects.ts';
import { answerData, buildQuery, query } from '../helpers/dns-client.ts';
import { within } from '../helpers/wait.ts';
import { availableUdpIo } from '../../src/server/udp-batch.ts';

function demoPool(restarts: { maxRestarts: number; backoffMs: number }, view = demoView()) {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line).msg as string) });
  const settings = parseSettings({ listen: ['127.0.0.1:0'], workers: 2, logLevel: 'silent', forward: { upstreams: ['127.0.0.1:9'] } });
  const primary = new ServingThread(view, settings, log, { ready: true }, 2);
  const events = { restarts: [] as string[], failures: [] as string[], logged: lines };
  const udpIo = availableUdpIo('auto').io;
  const pool = new WorkerPool({
    threads: 2,
    settings,
    primary,
    // Batched when the addon is built: a worker that dies or stops must release its socket either way.
    udpIo,
    log,
    restarts,
    onRestart: (index, reason) => events.restarts.push(`${index}: ${reason}`),
    onFailure: (index, reason) => events.failures.push(`${index}: ${reason}`),
  });
  /** The primary listens first, as app.ts starts them; resolves with the shared UDP port. */
  const start = async (): Promise<number> => {
    const bound = await primary.listen(listenAddresses(settings), true, udpIo);
    await pool.start(bound);
    return bound[0]!.udp.port;
  };
  const stop = async (): Promise<void> => {
    await pool.stop();
    primary.close();
  };
  return { pool, events, primary, start, stop };
}

function demoView(): ClusterView {
  const view = new ClusterView();
  view.replaceAll(readObjectsFile(demoObjects).objects);
  return view;
}

/** `count` queries, each from a fresh socket so that the kernel spreads them over both threads. */
async function everyQueryAnswered(port: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) assert.deepEqual(answerData(await query(port, 'web.default.svc.cluster.local', 'A'), 'A'), ['10.96.0.20'], `query ${i + 1}`);
}

async function queriesServedBy(pool: WorkerPool): Promise<number[]> {
  await pool.collect();
  return pool.stats().map((s) => s.queries.requests.reduce((total, [, n]) => total + n, 0));
}

describe('a serving worker that dies', () => {
  let pool: WorkerPool;
  let events: ReturnType<typeof demoPool>['events'];
  let stop: () => Promise<void>;
  let port: number;

  before(async () => {
    let start: () => Promise<number>;
    ({ pool, events, start, stop } = demoPool({ maxRestarts: 5, backoffMs: 50 }));
    port = await start();
    pool.setReady();
  });
  after(async () => {
    await stop();
  });

  it('is started again on the same port while the primary keeps answering', async () => {
    await everyQueryAnswered(port, 10);
    const dying = pool.workerThreadForTests(1)!;
    await dying.terminate();
    // The primary alone holds the port now: nothing is lost.
    await everyQueryAnswered(port, 10);
    await within(10_000, async () => events.logged.includes('serving worker restarted'));
    assert.deepEqual(events.restarts, ['1: exited with code 1']);
    assert.deepEqual(events.failures, []);
    await everyQueryAnswered(port, 40);
    const [restarted] = await queriesServedBy(pool);
    assert.ok(restarted! > 0, 'the restarted worker answers its share');
  });
});

describe('serving workers that keep dying', () => {
  it('end in onFailure once restarts exceed the limit', async () => {
    const { pool, events, start, stop } = demoPool({ maxRestarts: 2, backoffMs: 10 });
    try {
      await start();
      for (let death = 1; death <= 3; death++) {
        const dying = pool.workerThreadForTests(1)!;
        await dying.terminate();
        // Each restart must listen before the next death counts.
        if (death <= 2) await within(10_000, async () => events.logged.filter((msg) => msg === 'serving worker restarted').length === death);
      }
      await within(5_000, async () => events.failures.length > 0);
      assert.equal(events.restarts.length, 2);
      assert.match(events.failures[0]!, /^1: exited with code 1, after 2 restarts within 60 s$/);
    } finally {
      await stop();
    }
  });
});

describe('a fixed answer, shared by every serving thread', () => {
  /** Headless Service team/solo at version k: one endpoint, 10.40.0.<k>, an answer every client gets alike. */
  const solo = (version: number) => parseObjectsText(asList(headlessService('team', 'solo', [`10.40.0.${version}`])), 'test').objects;
  const name = 'solo.team.svc.cluster.local';

  it('is answered by the worker from the primary\'s table, without a relay, and leaves every thread in the turn of a change', async () => {
    const view = demoView();
    const { services, endpointSlices } = solo(1);
    view.applyBatch([{ op: 'upsert', kind: 'Service', record: services[0]! }, { op: 'upsert', kind: 'EndpointSlice', record: endpointSlices[0]! }]);
    const { pool, primary, start, stop } = demoPool({ maxRestarts: 5, backoffMs: 50 }, view);
    let relayed = 0;
    const answerRelayed = primary.answerRelayed.bind(primary);
    primary.answerRelayed = (request, transport, client) => {
      relayed++;
      return answerRelayed(request, transport, client);
    };
    try {
      const port = await start();
      pool.setReady();
      // The primary answers it first (straight to its handler): it is in the shared table before any worker sees it.
      const answered = primary.currentHandler.handle(buildQuery(name, 'A'), 'udp', '127.0.0.1');
      assert.ok(answered instanceof Buffer);
      for (let i = 0; i < 40; i++) assert.deepEqual(answerData(await query(port, name, 'A'), 'A'), ['10.40.0.1'], `query ${i + 1}`);
      await pool.collect();
      const [worker] = pool.stats();
      const workerQueries = worker!.queries.requests.filter(([labels]) => labels.startsWith('cluster.local')).reduce((sum, [, count]) => sum + count, 0);
      assert.ok(workerQueries > 0, 'the kernel gave the worker some of 40 fresh sockets');
      assert.equal(relayed, 0, 'the worker found the answer in the shared table');
      assert.equal(worker!.relays.answered, 0);
      // In the turn of the change: no thread, the worker included, has the old answer any more.
      view.apply({ op: 'upsert', kind: 'EndpointSlice', record: solo(2).endpointSlices[0]! });
      for (let i = 0; i < 40; i++) assert.deepEqual(answerData(await query(port, name, 'A'), 'A'), ['10.40.0.2'], `after the change, query ${i + 1}`);
    } finally {
      await stop();
    }
  });
});

describe('a view change right after a relay was answered', () => {
  /**
   * Headless Service team/app-<n>, at version k: endpoints 10.30.<n>.<k> and 10.31.<n>.<k>. Two,
   * so that its answer is shuffled: a route the primary teaches the worker (fixed answers it
   * shares instead, and those leave the shared table in the turn of the change).
   */
  const service = (n: number, version: number) => parseObjectsText(asList(headlessService('team', `app-${n}`, [`10.30.${n}.${version}`, `10.31.${n}.${version}`])), 'test').objects;
  const addresses = (n: number, version: number) => `10.30.${n}.${version},10.31.${n}.${version}`;

  it('leaves no worker with the route answered before it: the reply reaches the worker before the drop', async () => {
    const view = demoView();
    const rounds = [1, 2, 3, 4, 5, 6];
    for (const n of rounds) {
      const { services, endpointSlices } = service(n, 1);
      view.applyBatch([{ op: 'upsert', kind: 'Service', record: services[0]! }, { op: 'upsert', kind: 'EndpointSlice', record: endpointSlices[0]! }]);
    }
    const { pool, primary, start, stop } = demoPool({ maxRestarts: 5, backoffMs: 50 }, view);
    // The worst moment for a change: the primary has answered a relay from the view before it, and its reply is not posted yet.
    let changeService: number | null = null;
    const answerRelayed = primary.answerRelayed.bind(primary);
    primary.answerRelayed = (request, transport, client) => {
      const reply = answerRelayed(request, transport, client);
      if (changeService !== null) view.apply({ op: 'upsert', kind: 'EndpointSlice', record: service(changeService, 2).endpointSlices[0]! });
      changeService = null;
      return reply;
    };
    try {
      const port = await start();
      pool.setReady();
      const ask = async (n: number) => answerData(await query(port, `app-${n}.team.svc.cluster.local`, 'A'), 'A').sort().join(',');
      for (const n of rounds) {
        changeService = n;
        // Asked until the worker gets it (the kernel spreads fresh sockets over it and the primary,
        // which answers alone): relayed, answered from version 1, then the change.
        for (let asked = 0; changeService !== null && asked < 64; asked++) assert.equal(await ask(n), addresses(n, 1));
        assert.equal(changeService, null, 'the worker relayed the name, and the change was made after');
        await within(5000, async () => (await ask(n)) === addresses(n, 2));
        const answers = new Set<string>();
        for (let i = 0; i < 30; i++) answers.add(await ask(n));
        assert.deepEqual([...answers], [addresses(n, 2)], `app-${n}`);
      }
    } finally {
      await stop();
    }
  });
});
