/**
 * Serving workers share the main thread's one view and one forwarder: a worker answers from the
 * fixed answers the main thread shares and the routes it taught it, and relays the rest. Through the real CLI with two serving
 * threads (the main thread and one worker), each query from a fresh socket (a new source port),
 * so the kernel spreads them over both.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { type LogLine, type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { answerData, buildQuery, decode, query, rcodeOf } from '../helpers/dns-client.ts';
import { StubUpstream, reply } from '../helpers/stub-upstream.ts';
import { asList, clusterIpService, headlessService } from '../helpers/objects.ts';
import { within } from '../helpers/wait.ts';

async function metricValue(server: RunningServer, line: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? Number.NaN : Number(found.slice(line.length + 1));
}

const relays = (server: RunningServer, result: string) => metricValue(server, `lbdns_worker_relays_total{result="${result}"}`);

/** The serving threads (0: the main thread) whose query log lines name `name`. */
function workersThatAnswered(server: RunningServer, name: string): Set<unknown> {
  return new Set(server.logs.filter((l: LogLine) => l.msg === 'query' && l.name === name).map((l) => l.worker));
}

/** The sorted A records of one query from a fresh socket. */
async function addressesOf(port: number, name: string): Promise<string> {
  return (answerData(await query(port, name, 'A'), 'A') as string[]).sort().join(',');
}

/**
 * Asks for `name` (always answered `addresses`) until both threads have answered it: the worker
 * relayed it once and holds its route now, or found it in the shared table of fixed answers.
 */
async function untilBothThreadsAnswered(server: RunningServer, name: string, addresses: string): Promise<void> {
  await within(5000, async () => {
    assert.equal(await addressesOf(server.port, name), addresses);
    return workersThatAnswered(server, name).size === 2;
  }, 0);
}

describe('two workers, one forwarding cache', () => {
  let upstream: StubUpstream;
  let server: RunningServer;
  before(async () => {
    upstream = await StubUpstream.start((q) => [{ bytes: reply(q, { answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 300, data: '192.0.2.44' }] }) }]);
    server = await startLbdns({ config: tempFile('lbdns.yaml', 'queryLogSampleRate: 1\n'), upstream: `127.0.0.1:${upstream.port}`, workers: 2 });
  });
  after(async () => {
    await server?.stop();
    await upstream.close();
  });

  it('a forwarded name asked over many source ports reaches the upstream once, whichever thread answers', async () => {
    const name = 'once.example.test';
    for (let i = 0; i < 40; i++) assert.deepEqual(answerData(await query(server.port, name, 'A'), 'A'), ['192.0.2.44'], `query ${i + 1}`);
    await within(3000, async () => workersThatAnswered(server, name).size === 2);
    assert.equal(upstream.count(name), 1);
  });
});

describe('two workers, one view', () => {
  let server: RunningServer;
  let objectsPath: string;
  const objects = (addresses: string[]) => asList([...headlessService('team', 'app', addresses), clusterIpService('team', 'front', '10.96.7.7')]);

  before(async () => {
    objectsPath = tempFile('objects.yaml', objects(['10.20.0.1', '10.20.0.2']));
    server = await startLbdns({ objects: objectsPath, config: tempFile('lbdns.yaml', 'queryLogSampleRate: 1\n'), workers: 2 });
  });
  after(async () => {
    await server.stop();
  });

  it('answers a Service name in the worker itself once the main thread has answered it there', async () => {
    const name = 'front.team.svc.cluster.local';
    await untilBothThreadsAnswered(server, name, '10.96.7.7');
    const relayed = await relays(server, 'answered');
    // Once at most: when the worker had it first. A ClusterIP's address is a fixed answer, so once
    // the main thread has made it, the worker reads it from the table they share.
    assert.ok(relayed <= 1, `the worker relayed the name once at most: ${relayed} relays`);
    for (let i = 0; i < 40; i++) assert.equal(await addressesOf(server.port, name), '10.96.7.7');
    assert.equal(await relays(server, 'answered'), relayed, 'no query of the name went to the main thread again');
  });

  it('an EndpointSlice change reaches the answers of every thread, the worker keeps no old route', async () => {
    const name = 'app.team.svc.cluster.local';
    await untilBothThreadsAnswered(server, name, '10.20.0.1,10.20.0.2');
    writeFileSync(objectsPath, objects(['10.20.0.1', '10.20.0.2', '10.20.0.3']));
    // Each thread takes the change on its own: the worker drops its route when the main thread's
    // message reaches it, a moment after the main thread answers from the new view (pool.ts). So
    // wait until 20 answers in a row are new, whichever thread each query reaches.
    await within(5000, async () => {
      for (let i = 0; i < 20; i++) if ((await addressesOf(server.port, name)) !== '10.20.0.1,10.20.0.2,10.20.0.3') return false;
      return true;
    });
    const answers = new Set<string>();
    for (let i = 0; i < 40; i++) answers.add(await addressesOf(server.port, name));
    assert.deepEqual([...answers], ['10.20.0.1,10.20.0.2,10.20.0.3']);
  });
});

/**
 * A socket whose queries the kernel gives to the worker (serving thread 1), not the main thread:
 * each candidate asks a name of its own in the cluster zone, and its query log line says which
 * thread answered. Each candidate is an even chance, so 32 all missing cannot happen in practice.
 */
async function socketServedByTheWorker(server: RunningServer): Promise<ReturnType<typeof createSocket>> {
  for (let candidate = 0; candidate < 32; candidate++) {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    const name = `probe-${candidate}.svc.cluster.local`;
    const answered = new Promise<void>((resolve) => socket.once('message', () => resolve()));
    socket.send(buildQuery(name, 'A'), server.port, '127.0.0.1');
    await answered;
    await within(3000, async () => workersThatAnswered(server, name).size === 1);
    if (workersThatAnswered(server, name).has(1)) return socket;
    socket.close();
  }
  throw new Error('the kernel gave no candidate socket to the worker');
}

describe('relays to the main thread are bounded', () => {
  let upstream: StubUpstream;
  let server: RunningServer;
  before(async () => {
    // An upstream that never answers: every forwarded query stays in flight until its timeout.
    upstream = await StubUpstream.start(() => []);
    server = await startLbdns({ config: tempFile('lbdns.yaml', 'queryLogSampleRate: 1\nrelay:\n  maxInFlight: 4\n  timeoutMs: 20000\nforward:\n  timeoutMs: 10000\n'), upstream: `127.0.0.1:${upstream.port}`, workers: 2 });
  });
  after(async () => {
    await server?.stop();
    await upstream.close();
  });

  it('a flood of distinct names beyond relay.maxInFlight gets SERVFAIL at once, counted, instead of queueing', async () => {
    // One socket: one source port, so every query meets the same thread: the worker.
    const socket = await socketServedByTheWorker(server);
    const rcodes: string[] = [];
    socket.on('message', (bytes) => rcodes.push(rcodeOf(decode(bytes))));
    try {
      for (let i = 0; i < 20; i++) socket.send(buildQuery(`flood-${i}.example.test`, 'A'), server.port, '127.0.0.1');
      await within(5000, async () => rcodes.includes('SERVFAIL') && (await relays(server, 'full')) > 0);
      // At most maxInFlight of the flood went on to the main thread (and the upstream).
      assert.ok(upstream.queries.length <= 4, `${upstream.queries.length} queries reached the upstream`);
    } finally {
      socket.close();
    }
  });
});
