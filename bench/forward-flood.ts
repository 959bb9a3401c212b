/**
 * `npm run bench:forward-flood`: issue 13's forwarding-slot scenario. One client (127.0.0.2)
 * sends random names an upstream never answers at FLOOD_QPS (default 1900) for FLOOD_SECONDS
 * (default 10); meanwhile CLIENTS (default 186) other clients (127.0.1.x) each ask distinct
 * uncached names that the upstream answers at once, one a second. Prints the share of the other
 * clients' lookups answered NOERROR, and how the flood's queries were answered. Run it against
 * another checkout's CLI with LBDNS_ROOT=/path/to/checkout to compare.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { demoObjects, freePort, projectRoot, tempFile } from '../test/helpers/lbdns-process.ts';
import { StubUpstream, reply } from '../test/helpers/stub-upstream.ts';
import { buildQuery, decode, query, rcodeOf } from '../test/helpers/dns-client.ts';

const floodQps = Number(process.env.FLOOD_QPS ?? 1900);
const seconds = Number(process.env.FLOOD_SECONDS ?? 10);
const clients = Number(process.env.CLIENTS ?? 186);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const stub = await StubUpstream.start((q) => {
  const name = q.questions![0]!.name;
  return name.endsWith('.attack.test') ? [] : [{ bytes: reply(q, { answers: [{ type: 'A', name, ttl: 60, data: '192.0.2.1' }] }) }];
});
// The CLI's defaults (maxConcurrent 1000, timeoutMs 2000) with the stub as the only upstream.
const root = process.env.LBDNS_ROOT ?? projectRoot;
const server = { port: await freePort() };
const config = tempFile('lbdns.yaml', `forward:\n  upstreams: ["127.0.0.1:${stub.port}"]\nlogLevel: warn\n`);
const child = spawn(process.execPath, [join(root, 'bin/lbdns.js'), '--config', config, '--objects', demoObjects, '--listen', `127.0.0.1:${server.port}`, '--ops-listen', `127.0.0.1:${await freePort()}`, '--workers', '1'], { stdio: ['ignore', 'ignore', 'inherit'] });
for (let attempt = 0; ; attempt++) {
  const ready = await query(server.port, 'web.default.svc.cluster.local', 'A', { timeoutMs: 200 }).then(() => true, () => false);
  if (ready) break;
  if (attempt > 100) throw new Error('lbdns did not start');
}

const floodRcodes = new Map<string, number>();
const flooder = createSocket('udp4');
flooder.on('message', (raw) => {
  const rcode = rcodeOf(decode(raw));
  floodRcodes.set(rcode, (floodRcodes.get(rcode) ?? 0) + 1);
});
await new Promise<void>((resolve) => flooder.bind(0, '127.0.0.2', () => resolve()));

let floodSent = 0;
const floodDone = (async () => {
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * floodQps);
    for (; floodSent < due; floodSent++) flooder.send(buildQuery(`r${floodSent}-${Math.random().toString(36).slice(2)}.attack.test`, 'A'), server.port, '127.0.0.1');
    await sleep(5);
  }
})();

const others = new Map<string, number>();
let asked = 0;
await sleep(1000);
const othersDone = Promise.all(
  Array.from({ length: clients }, async (_, c) => {
    for (let round = 0; round < seconds - 2; round++) {
      asked++;
      const rcode = await query(server.port, `c${c}-q${round}.ok.test`, 'A', { from: `127.0.1.${c + 1}`, timeoutMs: 3000 }).then(rcodeOf, () => 'no answer');
      others.set(rcode, (others.get(rcode) ?? 0) + 1);
      await sleep(1000);
    }
  }),
);
await Promise.all([floodDone, othersDone]);
await sleep(2500);
flooder.close();
child.kill('SIGINT');
await stub.close();

const answered = others.get('NOERROR') ?? 0;
console.log(`flood: ${floodSent} random names from one client at ${floodQps} q/s for ${seconds} s; its answers: ${JSON.stringify(Object.fromEntries(floodRcodes))}`);
console.log(`other clients: ${clients}, lookups ${asked}, by answer: ${JSON.stringify(Object.fromEntries(others))}`);
console.log(`other clients' lookups answered NOERROR: ${((100 * answered) / asked).toFixed(1)}%`);
