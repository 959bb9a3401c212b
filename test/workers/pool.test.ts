/**
 * The worker pool for real: worker threads serving a demo view on loopback ports. A worker that
 * dies is started again on the same ports while the other keeps answering; workers that keep
 * dying end in onFailure.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { WorkerPool } from '../../src/workers/pool.ts';
import { ClusterView } from '../../src/view/cluster-view.ts';
import { readObjectsFile } from '../../src/sources/objects-file.ts';
import { parseSettings } from '../../src/settings/schema.ts';
import { ServingThread, listenAddresses } from '../../src/server/serving.ts';
import { demoObjects } from '../helpers/lbdns-process.ts';
import { answerData, query } from '../helpers/dns-client.ts';
import { within } from '../helpers/wait.ts';

function demoPool(restarts: { maxRestarts: number; backoffMs: number }) {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line).msg as string) });
  const settings = parseSettings({ listen: ['127.0.0.1:0'], workers: 2, logLevel: 'silent', forward: { upstreams: ['127.0.0.1:9'] } });
  const view = new ClusterView();
  view.replaceAll(readObjectsFile(demoObjects).objects);
  const events = { restarts: [] as string[], failures: [] as string[], logged: lines };
  const pool = new WorkerPool({
    count: 2,
    settings,
    primary: new ServingThread(view, settings, log, { ready: true }),
    listen: listenAddresses(settings),
    log,
    restarts,
    onRestart: (index, reason) => events.restarts.push(`${index}: ${reason}`),
    onFailure: (index, reason) => events.failures.push(`${index}: ${reason}`),
  });
  return { pool, events };
}

/** `count` queries, each from a fresh socket so that the kernel spreads them over both workers. */
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
  let port: number;

  before(async () => {
    ({ pool, events } = demoPool({ maxRestarts: 5, backoffMs: 50 }));
    port = (await pool.start())[0]!.udp.port;
    pool.setReady();
  });
  after(async () => {
    await pool.stop();
  });

  it('is started again on the same port while the other keeps answering', async () => {
    await everyQueryAnswered(port, 10);
    const dying = pool.workerThreadForTests(1)!;
    await dying.terminate();
    // The other worker alone holds the port now: nothing is lost.
    await everyQueryAnswered(port, 10);
    await within(10_000, async () => events.logged.includes('serving worker restarted'));
    assert.deepEqual(events.restarts, ['1: exited with code 1']);
    assert.deepEqual(events.failures, []);
    await everyQueryAnswered(port, 40);
    const [, restarted] = await queriesServedBy(pool);
    assert.ok(restarted! > 0, 'the restarted worker answers its share');
  });
});

describe('serving workers that keep dying', () => {
  it('end in onFailure once restarts exceed the limit', async () => {
    const { pool, events } = demoPool({ maxRestarts: 2, backoffMs: 10 });
    try {
      await pool.start();
      for (let death = 1; death <= 3; death++) {
        const dying = pool.workerThreadForTests(0)!;
        await dying.terminate();
        // Each restart must listen before the next death counts.
        if (death <= 2) await within(10_000, async () => events.logged.filter((msg) => msg === 'serving worker restarted').length === death);
      }
      await within(5_000, async () => events.failures.length > 0);
      assert.equal(events.restarts.length, 2);
      assert.match(events.failures[0]!, /^0: exited with code 1, after 2 restarts within 60 s$/);
    } finally {
      await pool.stop();
    }
  });
});
