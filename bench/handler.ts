/**
 * `npm run bench:handler`: the per-query cost of the query handler alone, in process, with no
 * sockets: the bench's query mix (already encoded, as dnsperf sends it) through
 * `QueryHandler.handle` over and over, after a warm-up that fills the answer cache. What it
 * prints is the CPU time lbdns adds to each datagram on top of Node's UDP path.
 *
 * Environment: HANDLER_PASSES (passes over the mix, default 300); HANDLER_SCALE=large for the
 * 10,000-Service / 100,000-endpoint cluster of bench:scale; HANDLER_COOKIES=1 sends every query
 * with EDNS and a DNS cookie, the server cookie lbdns gave (what resolvers with cookies send),
 * for the cost of checking and echoing it; HANDLER_ANSWER=endpoints for endpoint mode, HANDLER_POLICY for balance.policy, HANDLER_DISTRIBUTION (PreferClose, PreferSameNode) for
 * spec.trafficDistribution on every Service (with hints) and HANDLER_DISTRIBUTION_MODE (limit, order).
 */
import { LARGE_CLUSTER, generateCluster } from './cluster.ts';
import { parseObjectsText } from '../src/sources/objects-file.ts';
import { ClusterView } from '../src/view/cluster-view.ts';
import { parseSettings } from '../src/settings/schema.ts';
import { ServingThread } from '../src/server/serving.ts';
import { createLogger } from '../src/log.ts';
import { buildQuery } from '../test/helpers/dns-client.ts';

const passes = Number(process.env.HANDLER_PASSES ?? 300);
const large = process.env.HANDLER_SCALE === 'large';
const trafficDistribution = process.env.HANDLER_DISTRIBUTION;
const cluster = generateCluster({ ...(large ? LARGE_CLUSTER : {}), ...(trafficDistribution ? { trafficDistribution } : {}) });
const view = new ClusterView();
view.replaceAll(parseObjectsText(cluster.objectsJson, 'bench').objects);
const settings = parseSettings(
  {
    balance: {
      ...(process.env.HANDLER_ANSWER ? { answer: process.env.HANDLER_ANSWER } : {}),
      ...(process.env.HANDLER_POLICY ? { policy: process.env.HANDLER_POLICY } : {}),
      ...(process.env.HANDLER_DISTRIBUTION_MODE ? { trafficDistribution: process.env.HANDLER_DISTRIBUTION_MODE } : {}),
      clientZones: { '10.244.0.0/16': 'zone-1' },
    },
  },
  'bench',
);
const serving = new ServingThread(view, settings, createLogger('warn'), { ready: true });
const cookies = process.env.HANDLER_COOKIES === '1';
const COOKIE = 10;
/** The client cookie and the server cookie lbdns answers it with, as a resolver keeps them. */
function serverCookie(): Buffer {
  const response = serving.currentHandler.handle(buildQuery('kubernetes.default.svc.cluster.local', 'A', { udpSize: 1232, ednsOptions: [{ code: COOKIE, data: Buffer.alloc(8, 7) }] }), 'udp', '10.244.0.5') as Buffer;
  return response.subarray(response.length - 24);
}
const cookie = cookies ? serverCookie() : null;
const queries = cluster.queries.map((line) => {
  const [name, type] = line.split(' ') as [string, string];
  return cookie ? buildQuery(name, type, { udpSize: 1232, ednsOptions: [{ code: COOKIE, data: cookie }] }) : buildQuery(name, type);
});

function pass(): number {
  let bytes = 0;
  for (const query of queries) {
    const response = serving.currentHandler.handle(query, 'udp', '10.244.0.5');
    if (response instanceof Buffer) bytes += response.length;
  }
  return bytes;
}

for (let i = 0; i < 20; i++) pass();
const rounds: number[] = [];
let bytes = 0;
const ROUNDS = 15;
for (let round = 0; round < ROUNDS; round++) {
  const started = process.cpuUsage();
  for (let i = 0; i < passes / ROUNDS; i++) bytes += pass();
  const used = process.cpuUsage(started);
  rounds.push(((used.user + used.system) * 1000) / ((passes / ROUNDS) * queries.length));
}
rounds.sort((a, b) => a - b);
// The fastest round is the least disturbed by whatever else shares the machine.
console.log(`${large ? '10,000' : '1,000'} services, ${queries.length} queries${cookies ? ' with DNS cookies' : ''} in the mix, ${passes} passes in ${ROUNDS} rounds, ${(bytes / (passes * queries.length)).toFixed(0)} response bytes on average`);
console.log(`handler CPU per query: fastest round ${rounds[0]!.toFixed(0)} ns, median ${rounds[Math.floor(ROUNDS / 2)]!.toFixed(0)} ns`);
