/**
 * The kubernetes-mixin CoreDNS alerts shipped in deploy/prometheus/coredns-alerts.yaml, run by
 * `promtool test rules` over series taken from a real lbdns's /metrics: real queries over UDP,
 * some SERVFAIL through a dead upstream and an upstream that answers SERVFAIL, a scrape after each
 * round. Scrape k becomes the sample at minute k (Prometheus would scrape every 30-60 s; each
 * round's traffic stands for a minute's), `up` is 1 when the scrape answered and 0 when it did not,
 * every sample is the value scraped. The tests assert which alerts fire and which stay silent.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import * as dnsPacket from 'dns-packet';
import { type RunningServer, projectRoot, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { query, rcodeOf } from '../helpers/dns-client.ts';
import { StubUpstream, reply } from '../helpers/stub-upstream.ts';

const RULES = join(projectRoot, 'deploy/prometheus/coredns-alerts.yaml');
/** Minutes of traffic: enough for a 5 m rate to hold for the rules' longest `for` (10 m) and more. */
const ROUNDS = 20;
const JOB = 'kube-dns';

/** One scrape's coredns_* samples by series (`name{labels}` as exposed), or null: the scrape failed. */
type Scrape = Map<string, number> | null;

async function scrape(server: RunningServer): Promise<Scrape> {
  let text: string;
  try {
    text = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
  } catch {
    return null;
  }
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('coredns_')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** The scrapes as promtool input series, with the labels Prometheus adds (job, instance) and `up`. */
function inputSeries(scrapes: Scrape[], instance: string): Array<{ series: string; values: string }> {
  const target = `job="${JOB}",instance="${instance}"`;
  const names = new Set(scrapes.flatMap((s) => (s ? [...s.keys()] : [])));
  const series = [...names].sort().map((name) => {
    const brace = name.indexOf('{');
    const labelled = brace < 0 ? `${name}{${target}}` : `${name.slice(0, brace + 1)}${target},${name.slice(brace + 1)}`;
    return { series: labelled, values: scrapes.map((s) => (s?.has(name) ? String(s.get(name)) : '_')).join(' ') };
  });
  series.push({ series: `up{${target}}`, values: scrapes.map((s) => (s ? '1' : '0')).join(' ') });
  return series;
}

const ALERTS = ['CoreDNSDown', 'CoreDNSLatencyHigh', 'CoreDNSErrorsHigh', 'CoreDNSForwardLatencyHigh', 'CoreDNSForwardErrorsHigh', 'CoreDNSForwardHealthcheckFailureCount', 'CoreDNSForwardHealthcheckBrokenCount'];

interface Firing {
  alertname: string;
  labels: Record<string, string>;
}

/**
 * A promtool test: at `minute`, exactly `firing` fire (ALERTS lists every firing alert with its
 * labels), and every other alert of the file has nothing firing (alert_rule_test, no alerts).
 */
function check(minute: number, firing: Firing[]) {
  const silent = ALERTS.filter((name) => !firing.some((f) => f.alertname === name));
  const samples = firing.map(({ alertname, labels }) => {
    const all = { alertname, alertstate: 'firing', ...labels };
    const text = Object.keys(all)
      .sort()
      .map((key) => `${key}="${all[key as keyof typeof all]}"`)
      .join(',');
    return { labels: `ALERTS{${text}}`, value: 1 };
  });
  return {
    alert_rule_test: silent.map((alertname) => ({ eval_time: `${minute}m`, alertname, exp_alerts: [] })),
    promql_expr_test: [{ expr: 'ALERTS{alertstate="firing"}', eval_time: `${minute}m`, exp_samples: samples }],
  };
}

/** Runs promtool over the rules; its output on failure. */
function promtoolTest(series: Array<{ series: string; values: string }>, checks: Array<ReturnType<typeof check>>): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'lbdns-promtool-'));
  const file = join(dir, 'test.yaml');
  writeFileSync(file, stringify({ rule_files: [RULES], evaluation_interval: '1m', tests: checks.map((c) => ({ interval: '1m', input_series: series, ...c })) }, { lineWidth: 0 }));
  const run = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

/**
 * A scrape, then ROUNDS minutes of traffic: each minute's questions sent all at once (each must
 * get the rcode given with it), then a scrape.
 */
async function traffic(server: RunningServer, scrapes: Scrape[], questions: (minute: number) => Array<[name: string, type: string, rcode: string]>): Promise<void> {
  scrapes.push(await scrape(server));
  for (let minute = 1; minute <= ROUNDS; minute++) {
    const asked = questions(minute);
    const rcodes = await Promise.all(asked.map(async ([name, type]) => rcodeOf(await query(server.port, name, type, { timeoutMs: 5000 }))));
    assert.deepEqual(rcodes, asked.map(([, , rcode]) => rcode), `minute ${minute}`);
    scrapes.push(await scrape(server));
  }
}

/** Every minute's cluster questions: two names that exist, one that does not. */
const CLUSTER: Array<[string, string, string]> = [
  ['web.default.svc.cluster.local', 'A', 'NOERROR'],
  ['web.default.svc.cluster.local', 'AAAA', 'NOERROR'],
  ['nope.default.svc.cluster.local', 'A', 'NXDOMAIN'],
];

describe('the kubernetes-mixin CoreDNS alerts over a real lbdns scrape', () => {
  it('are valid Prometheus rules (promtool check rules)', () => {
    const output = execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    assert.match(output, /SUCCESS: 9 rules found/);
  });

  describe('a healthy lbdns', () => {
    let upstream: StubUpstream;
    let server: RunningServer;
    const scrapes: Scrape[] = [];
    before(async () => {
      upstream = await StubUpstream.start((q) => [{ bytes: reply(q, { answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 60, data: '192.0.2.7' }] as dnsPacket.Answer[] }) }]);
      server = await startLbdns({ config: tempFile('lbdns.yaml', 'forward:\n  timeoutMs: 500\n'), upstream: `127.0.0.1:${upstream.port}` });
      await traffic(server, scrapes, (minute) => [...CLUSTER, [`host${minute}.example.org`, 'A', 'NOERROR'], [`other${minute}.example.org`, 'A', 'NOERROR']]);
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    it('fires nothing', () => {
      assert.ok(scrapes.every((s) => s !== null && s.size > 0));
      const result = promtoolTest(inputSeries(scrapes, `127.0.0.1:${server.opsPort}`), [check(ROUNDS, [])]);
      assert.ok(result.ok, result.output);
    });
  });

  describe('an lbdns whose upstreams fail, then stops', () => {
    let failing: StubUpstream;
    let server: RunningServer;
    const scrapes: Scrape[] = [];
    /** The default upstream: nothing listens there. */
    const dead = '127.0.0.1:9';
    before(async () => {
      failing = await StubUpstream.start((q) => [{ bytes: reply(q, { rcode: 'SERVFAIL' }) }]);
      const settings = `forward:\n  timeoutMs: 300\n  stubDomains:\n    broken.test: ["127.0.0.1:${failing.port}"]\n`;
      server = await startLbdns({ config: tempFile('lbdns.yaml', settings), upstream: dead });
      // One name the failing upstream answers SERVFAIL, one the dead upstream never answers (SERVFAIL).
      await traffic(server, scrapes, (minute) => [...CLUSTER, [`host${minute}.broken.test`, 'A', 'SERVFAIL'], [`host${minute}.example.org`, 'A', 'SERVFAIL']]);
      await server.stop();
      // Prometheus keeps scraping a target that is gone: every scrape fails.
      for (let minute = 1; minute <= ROUNDS; minute++) scrapes.push(await scrape(server));
    });
    after(async () => {
      await server?.stop();
      await failing?.close();
    });

    it('fires the error and health-check alerts while it serves, CoreDNSDown once it is gone, never the latency ones', () => {
      assert.ok(scrapes.slice(0, ROUNDS + 1).every((s) => s !== null) && scrapes.slice(ROUNDS + 1).every((s) => s === null));
      const job = { job: JOB };
      const serving = check(ROUNDS, [
        { alertname: 'CoreDNSErrorsHigh', labels: { ...job, severity: 'critical' } },
        { alertname: 'CoreDNSErrorsHigh', labels: { ...job, severity: 'warning' } },
        { alertname: 'CoreDNSForwardErrorsHigh', labels: { ...job, severity: 'critical', to: `127.0.0.1:${failing.port}` } },
        { alertname: 'CoreDNSForwardErrorsHigh', labels: { ...job, severity: 'warning', to: `127.0.0.1:${failing.port}` } },
        { alertname: 'CoreDNSForwardHealthcheckFailureCount', labels: { ...job, severity: 'warning', to: dead } },
        { alertname: 'CoreDNSForwardHealthcheckBrokenCount', labels: { ...job, severity: 'warning' } },
      ]);
      // absent() over a comparison keeps no labels of the selector.
      const gone = check(2 * ROUNDS, [{ alertname: 'CoreDNSDown', labels: { severity: 'critical' } }]);
      const result = promtoolTest(inputSeries(scrapes, `127.0.0.1:${server.opsPort}`), [serving, gone]);
      assert.ok(result.ok, result.output);
    });
  });
});
