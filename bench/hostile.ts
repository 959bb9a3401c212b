/**
 * `npm run hostile`: plays a hostile pod against a running lbdns (two serving workers, as
 * deployed) and prints, per attack: what was sent, whether the process is still up, how many of
 * a legitimate client's queries were answered right meanwhile, and the RSS before and after.
 *
 * Everything stays on loopback; distinct 127.x.y.z source addresses stand for distinct pods and
 * nodes (127.0.N.x share a /24, as one node's pods do). Every attack runs for a bounded time.
 * Raw packets (source port 0) need root; without it that row says so.
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { connect, type Socket as TcpSocket } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { type RunningServer, demoObjects, freePort, projectRoot, startLbdns, tempFile } from '../test/helpers/lbdns-process.ts';
import { buildQuery, decode, dnsPacket, rcodeOf, udpExchange, type Packet } from '../test/helpers/dns-client.ts';
import { StubUpstream, reply } from '../test/helpers/stub-upstream.ts';
import { seededRandom } from '../test/helpers/random.ts';
import { sendRawUdp } from '../test/helpers/raw-udp.ts';

const ATTACK_MS = Number(process.env.HOSTILE_SECONDS ?? 5) * 1000;
const BIG = Number(process.env.HOSTILE_ENDPOINTS ?? 10_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const random = seededRandom(13);

interface Row {
  attack: string;
  sent: string;
  up: boolean;
  legit: string;
  rss: string;
  note?: string;
}

// --- the cluster: the demo plus Services of BIG endpoints a pod could have created ---

function bigObjects(): unknown[] {
  const items: unknown[] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'big' } }];
  const service = (name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'big', annotations },
    spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...spec },
  });
  items.push(service('weighted', { clusterIP: '10.96.200.1', clusterIPs: ['10.96.200.1'] }, { 'lbdns.io/answer': 'endpoints', 'lbdns.io/policy': 'weighted' }));
  items.push(service('zoned', { clusterIP: '10.96.200.2', clusterIPs: ['10.96.200.2'] }, { 'lbdns.io/answer': 'endpoints', 'lbdns.io/policy': 'zone' }));
  items.push(service('sticky', { clusterIP: '10.96.200.3', clusterIPs: ['10.96.200.3'], sessionAffinity: 'ClientIP' }, { 'lbdns.io/answer': 'endpoints' }));
  items.push(service('headless', { clusterIP: 'None', clusterIPs: ['None'] }));
  for (const [s, name] of ['weighted', 'zoned', 'sticky', 'headless'].entries()) {
    // EndpointSlices hold at most 1,000 endpoints each, as the API server makes them.
    for (let slice = 0; slice * 1000 < BIG; slice++) {
      const endpoints = [];
      for (let i = slice * 1000; i < Math.min(BIG, (slice + 1) * 1000); i++) {
        endpoints.push({ addresses: [`10.${100 + s}.${Math.floor(i / 250)}.${(i % 250) + 1}`], conditions: { ready: true }, zone: `zone-${i % 3}` });
      }
      items.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${name}-${slice}`, namespace: 'big', labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        endpoints,
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      });
    }
  }
  return items;
}

function clusterJson(): string {
  const demo = parseYaml(readFileSync(demoObjects, 'utf8')) as { items: unknown[] };
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...demo.items, ...bigObjects()] });
}

// --- measuring ---

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : NaN;
}

async function isUp(server: RunningServer): Promise<boolean> {
  if (server.process.exitCode !== null || server.process.signalCode !== null) return false;
  try {
    return (await fetch(`http://127.0.0.1:${server.opsPort}/health`, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

/** A legitimate pod asking one name every `intervalMs` until `done()`: answered right / asked. */
async function legitimate(ask: () => Promise<boolean>, done: () => boolean, intervalMs = 50): Promise<{ ok: number; total: number }> {
  let ok = 0;
  let total = 0;
  while (!done()) {
    total++;
    if (await ask().catch(() => false)) ok++;
    await sleep(intervalMs);
  }
  return { ok, total };
}

function askUdp(port: number, name: string, type: string, from: string, check: (p: Packet) => boolean = (p) => rcodeOf(p) === 'NOERROR'): () => Promise<boolean> {
  return async () => {
    const answer = await udpExchange(port, buildQuery(name, type), 1000, '127.0.0.1', from);
    return answer !== null && check(decode(answer));
  };
}

/** Sends `make(i)` from `from` at `perSecond` for `ms`; replies are read and counted, never awaited. */
async function flood(port: number, from: string, perSecond: number, ms: number, make: (i: number) => Buffer, onReply?: (reply: Buffer) => void): Promise<number> {
  const socket: Socket = createSocket('udp4');
  socket.on('message', (m) => onReply?.(m));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, from, () => resolve()));
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < ms) {
    const due = Math.floor(((performance.now() - started) / 1000) * perSecond);
    for (let n = 0; sent < due && n < 500; n++) socket.send(make(sent++), port, '127.0.0.1');
    await new Promise((r) => setImmediate(r));
  }
  await sleep(300);
  socket.close();
  return sent;
}

async function row(server: RunningServer, attack: string, run: () => Promise<{ sent: string; legit: { ok: number; total: number } | string; note?: string }>): Promise<Row> {
  const before = rssMiB(server.process.pid!);
  const result = await run();
  const up = await isUp(server);
  const after = up ? rssMiB(server.process.pid!) : NaN;
  const legit = typeof result.legit === 'string' ? result.legit : `${result.legit.ok}/${result.legit.total} (${((100 * result.legit.ok) / Math.max(1, result.legit.total)).toFixed(1)}%)`;
  const line: Row = { attack, sent: result.sent, up, legit, rss: `${before} → ${after}`, note: result.note };
  process.stderr.write(`${attack}: ${JSON.stringify(line)}\n`);
  return line;
}

function during<T>(ms: number, attack: (done: () => boolean) => Promise<T>): { attack: Promise<T>; done: () => boolean } {
  const until = performance.now() + ms;
  const done = () => performance.now() >= until;
  return { attack: attack(done), done };
}

// --- the attacks ---

async function main(): Promise<void> {
  const silent = await StubUpstream.start((query) => {
    const name = query.questions?.[0]?.name ?? '';
    if (name.endsWith('.attack.test')) return [];
    if (name === 'poison.example.test' && (query.questions?.[0] as { class?: string }).class === 'ANY') return [{ bytes: reply(query, { rcode: 'NXDOMAIN' }) }];
    if (name === 'ttl.example.test') return [{ bytes: reply(query, { answers: [{ type: 'A', name, ttl: 0xffffffff, data: '192.0.2.9' }] }) }];
    if (name === 'scrub.example.test') {
      return [{ bytes: reply(query, { answers: [{ type: 'A', name, ttl: 60, data: '192.0.2.10' }, { type: 'A', name: 'kubernetes.default.svc.cluster.local', ttl: 60, data: '192.0.2.66' }], authorities: [{ type: 'NS', name: '.', ttl: 60, data: 'ns.evil.test' }] }) }];
    }
    return [{ bytes: reply(query, { answers: [{ type: 'A', name, ttl: 60, data: '192.0.2.1' }] }) }];
  });
  const objects = tempFile('objects.json', clusterJson());
  const settings = tempFile('lbdns.yaml', ['balance:', '  clientZones:', '    127.0.0.0/8: zone-1', 'forward:', '  allowedClients: [127.0.0.0/8]', ''].join('\n'));
  const start = () => startLbdns({ objects, config: settings, workers: 2, upstream: `127.0.0.1:${silent.port}`, args: ['--log-level', 'info'] });
  let server = await start();
  let port = server.port;
  const rows: Row[] = [];
  /** An attack that brought lbdns down leaves the next one a fresh server. */
  const next = async (): Promise<RunningServer> => {
    if (!(await isUp(server))) {
      await server.stop();
      server = await start();
      port = server.port;
    }
    return server;
  };
  const web = (from: string) => askUdp(port, 'web.default.svc.cluster.local', 'A', from);

  rows.push(
    await row(await next(), 'UDP queries from source port 0', async () => {
      const { attack, done } = during(ATTACK_MS, async (finished) => {
        let sent = 0;
        while (!finished()) {
          await sendRawUdp({ from: '127.0.0.1', sourcePort: 0, to: '127.0.0.1', port, payload: buildQuery('web.default.svc.cluster.local', 'A'), count: 200 });
          sent += 200;
        }
        return sent;
      });
      const legit = await legitimate(web('127.0.0.200'), done);
      return { sent: String(await attack), legit };
    }),
  );

  rows.push(
    await row(await next(), 'ops port: malformed request targets', async () => {
      const targets = ['//[', 'http://[::1', '%zz', `/${'a'.repeat(10_000)}`, 'http://[', '/debug/balance?name=%E0%A4%A'];
      let sent = 0;
      const { attack, done } = during(ATTACK_MS, async (finished) => {
        while (!finished()) {
          await Promise.all(
            targets.map(
              (target) =>
                new Promise<void>((resolve) => {
                  const socket = connect({ port: server.opsPort, host: '127.0.0.1' }, () => socket.end(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`));
                  socket.on('error', () => resolve());
                  socket.on('close', () => resolve());
                  socket.resume();
                  sent++;
                }),
            ),
          );
        }
      });
      const legit = await legitimate(async () => (await fetch(`http://127.0.0.1:${server.opsPort}/health`)).ok && (await web('127.0.0.200')()), done);
      await attack;
      return { sent: `${sent} requests`, legit };
    }),
  );

  rows.push(
    await row(await next(), 'malformed and mutated datagrams', async () => {
      const good = buildQuery('web.default.svc.cluster.local', 'A');
      let replies = 0;
      let unparseable = 0;
      const make = (i: number): Buffer => {
        const kind = i % 4;
        if (kind === 0) return Buffer.from(Array.from({ length: 1 + Math.floor(random() * 60) }, () => Math.floor(random() * 256)));
        if (kind === 1) return good.subarray(0, Math.floor(random() * good.length));
        if (kind === 2) return Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 4 + Math.floor(random() * 8), 0, 1, 0, 1])]);
        const mutated = Buffer.from(good);
        for (let n = 0; n < 3; n++) mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256);
        return mutated;
      };
      const { attack, done } = during(ATTACK_MS, () =>
        flood(port, '127.0.5.1', 10_000, ATTACK_MS, make, (reply) => {
          replies++;
          try {
            dnsPacket.decode(reply);
          } catch {
            unparseable++;
          }
        }),
      );
      const legit = await legitimate(web('127.0.0.200'), done);
      return { sent: String(await attack), legit, note: `${replies} replies, ${unparseable} unparseable` };
    }),
  );

  rows.push(
    await row(await next(), `queries for ${BIG}-endpoint Services (weighted, zone SRV, affinity, headless)`, async () => {
      const names = [
        buildQuery('weighted.big.svc.cluster.local', 'A', { udpSize: 1232 }),
        buildQuery('_http._tcp.zoned.big.svc.cluster.local', 'SRV', { udpSize: 1232 }),
        buildQuery('sticky.big.svc.cluster.local', 'A', { udpSize: 1232 }),
        buildQuery('headless.big.svc.cluster.local', 'A', { udpSize: 1232 }),
      ];
      const { attack, done } = during(ATTACK_MS, () => flood(port, '127.0.2.1', 20_000, ATTACK_MS, (i) => names[i % names.length]!));
      const legit = await legitimate(web('127.0.0.200'), done);
      return { sent: String(await attack), legit };
    }),
  );

  rows.push(
    await row(await next(), 'TCP slots: 20 addresses × 64 connections, trickling', async () => {
      const sockets: TcpSocket[] = [];
      const tiny = buildQuery('web.default.svc.cluster.local', 'A');
      const frame = Buffer.concat([Buffer.from([tiny.length >> 8, tiny.length & 0xff]), tiny]);
      for (let a = 1; a <= 20; a++) {
        for (let c = 0; c < 64; c++) {
          const socket = connect({ port, host: '127.0.0.1', localAddress: `127.1.${a}.1` });
          socket.on('error', () => undefined);
          socket.resume();
          sockets.push(socket);
        }
      }
      const { attack, done } = during(Math.max(ATTACK_MS, 9000), async (finished) => {
        for (let tick = 0; !finished(); tick++) {
          for (const socket of sockets) if (!socket.destroyed) socket.write(tick % 4 === 0 ? frame : Buffer.from([0, 0]));
          await sleep(1000);
        }
      });
      const legit = await legitimate(
        async () => {
          const answer = await new Promise<Buffer | null>((resolve) => {
            const socket = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.201' }, () => socket.write(frame));
            const timer = setTimeout(() => (socket.destroy(), resolve(null)), 2000);
            let pending = Buffer.alloc(0);
            socket.on('data', (chunk) => {
              pending = Buffer.concat([pending, chunk]);
              if (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
                clearTimeout(timer);
                socket.destroy();
                resolve(pending.subarray(2, 2 + pending.readUInt16BE(0)));
              }
            });
            socket.on('error', () => (clearTimeout(timer), resolve(null)));
            socket.on('close', () => (clearTimeout(timer), resolve(null)));
          });
          return answer !== null && rcodeOf(decode(answer)) === 'NOERROR';
        },
        done,
        250,
      );
      await attack;
      const open = sockets.filter((s) => !s.destroyed).length;
      for (const socket of sockets) socket.destroy();
      return { sent: `${sockets.length} connections`, legit, note: `${open} attacker connections still open at the end` };
    }),
  );

  rows.push(
    await row(await next(), 'forwarding slots: random names to a silent upstream', async () => {
      const { attack, done } = during(ATTACK_MS, () => flood(port, '127.0.3.1', 2000, ATTACK_MS, (i) => buildQuery(`r${i}-${Math.floor(random() * 1e9)}.attack.test`, 'A')));
      let n = 0;
      const legit = await legitimate(() => askUdp(port, `n${n++}-${Math.floor(random() * 1e9)}.ok.test`, 'A', `127.0.${10 + (n % 50)}.9`)(), done, 25);
      return { sent: String(await attack), legit };
    }),
  );

  rows.push(
    await row(await next(), 'answers that must not be wrong (class ANY, TTL 2^32-1, out-of-bailiwick)', async () => {
      const classAny = dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'poison.example.test', class: 'ANY' }] } as dnsPacket.Packet);
      await udpExchange(port, classAny, 1000);
      const checks = [
        async () => rcodeOf(decode((await udpExchange(port, buildQuery('poison.example.test', 'A'), 1000))!)) === 'NOERROR',
        async () => (decode((await udpExchange(port, buildQuery('ttl.example.test', 'A'), 1000))!).answers ?? []).every((a) => (a.ttl ?? 0) <= 3600),
        async () => {
          const p = decode((await udpExchange(port, buildQuery('scrub.example.test', 'A'), 1000))!);
          return [...(p.answers ?? []), ...(p.authorities ?? []), ...(p.additionals ?? [])].every((r) => r.type === 'OPT' || r.name === 'scrub.example.test');
        },
      ];
      let ok = 0;
      for (const check of checks) if (await check().catch(() => false)) ok++;
      return { sent: '3 poisoned upstream answers', legit: { ok, total: checks.length } };
    }),
  );

  rows.push(
    await row(await next(), 'objects file rewritten non-atomically (truncate, then slow write)', async () => {
      const text = readFileSync(objects);
      const { attack, done } = during(ATTACK_MS, async (finished) => {
        let rewrites = 0;
        while (!finished()) {
          const fd = openSync(objects, 'r+');
          ftruncateSync(fd, 0);
          // As `kubectl get … > file`: the shell truncates, kubectl writes once the API answered.
          await sleep(300);
          const chunk = Math.ceil(text.length / 5);
          for (let at = 0; at < text.length; at += chunk) {
            writeSync(fd, text, at, Math.min(chunk, text.length - at), at);
            await sleep(100);
          }
          closeSync(fd);
          rewrites++;
          await sleep(500);
        }
        return rewrites;
      });
      const legit = await legitimate(web('127.0.0.203'), done, 20);
      return { sent: `${await attack} rewrites`, legit };
    }),
  );

  rows.push(
    await row(await next(), 'a second process binds the DNS port (SO_REUSEPORT)', async () => {
      const second = spawn(process.execPath, [`${projectRoot}bin/lbdns.js`, '--objects', demoObjects, '--listen', `127.0.0.1:${port}`, '--ops-listen', `127.0.0.1:${await freePort()}`, '--debug-listen', `127.0.0.1:${await freePort()}`, '--workers', '2', '--log-level', 'fatal'], { stdio: 'ignore' });
      const exited = new Promise<number | null>((resolve) => second.once('exit', (code) => resolve(code)));
      const { done } = during(ATTACK_MS, async () => undefined);
      const legit = await legitimate(web('127.0.0.204'), done);
      const code = await Promise.race([exited, sleep(1000).then(() => 'still running')]);
      if (second.exitCode === null) second.kill('SIGKILL');
      return { sent: '1 process', legit, note: `second process: exit ${code}` };
    }),
  );

  await server.stop();

  // Rate limiting needs its own server: turned on, it would hide the cost of the attacks above.
  const limitedSettings = tempFile('rrl.yaml', 'rateLimit:\n  responsesPerSecond: 20\n  clusterZones: true\n');
  const limited = await startLbdns({ config: limitedSettings, workers: 2, args: ['--log-level', 'info'] });
  rows.push(
    await row(limited, 'response rate limiting: a pod floods, its node neighbour asks', async () => {
      const request = buildQuery('web.default.svc.cluster.local', 'A');
      const { attack, done } = during(ATTACK_MS, () => flood(limited.port, '127.0.4.1', 5000, ATTACK_MS, () => request));
      const legit = await legitimate(askUdp(limited.port, 'web.default.svc.cluster.local', 'A', '127.0.4.2', (p) => rcodeOf(p) === 'NOERROR' && (p.answers ?? []).length === 1), done, 100);
      return { sent: String(await attack), legit };
    }),
  );
  await limited.stop();
  await silent.close();

  const header = ['attack', 'sent', 'up', 'legitimate answered', 'RSS MiB before → after', 'note'];
  const lines = [header, header.map(() => '---'), ...rows.map((r) => [r.attack, r.sent, r.up ? 'yes' : '**no**', r.legit, r.rss, r.note ?? ''])];
  process.stdout.write(`\nlbdns under hostile pods: ${ATTACK_MS / 1000} s per attack, 2 serving workers, ${BIG}-endpoint Services\n\n`);
  for (const line of lines) process.stdout.write(`| ${line.join(' | ')} |\n`);
}

await main();
