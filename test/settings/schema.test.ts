/**
 * parseSettings: the defaults (and config/lbdns.yaml, which documents each of them), and a table
 * of rejected values, each named by its key.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SettingsError, parseSettings } from '../../src/settings/schema.ts';
import { projectRoot } from '../helpers/lbdns-process.ts';

const documented = readFileSync(join(projectRoot, 'config/lbdns.yaml'), 'utf8');

describe('parseSettings: defaults', () => {
  const defaults = parseSettings({});

  it('follows kubeadm’s CoreDNS where it has one, and closes what is open to the world', () => {
    assert.deepEqual(defaults.zones, ['cluster.local']);
    assert.equal(defaults.ttl, 5);
    assert.equal(defaults.pods, 'insecure');
    assert.deepEqual(defaults.reverse, { zones: ['in-addr.arpa', 'ip6.arpa'], fallthrough: true });
    assert.deepEqual(defaults.listen, ['0.0.0.0:53']);
    assert.deepEqual(defaults.ops, { listen: '127.0.0.1:8080', debugListen: '127.0.0.1:8081' });
    assert.equal(defaults.maxUdpSize, 1232);
    assert.deepEqual(defaults.forward.upstreams, []);
    assert.equal(defaults.forward.resolvConf, '/etc/resolv.conf');
    assert.deepEqual(defaults.forward.allowedClients, ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7', 'fe80::/10']);
    assert.equal(defaults.rateLimit.responsesPerSecond, 0, 'no response rate limit unless asked');
    assert.deepEqual([defaults.tcp.ipv4PrefixLength, defaults.tcp.ipv6PrefixLength], [24, 56]);
    assert.equal(defaults.balance.answer, 'clusterIP', 'the specification’s answer unless asked');
    assert.equal(defaults.workers, undefined, 'workers: unset; app.ts resolves it to the usable CPUs (test/app.test.ts)');
  });

  it('null or no settings file is the defaults', () => {
    assert.deepEqual({ ...parseSettings(null), workers: 0 }, { ...defaults, workers: 0 });
    assert.deepEqual({ ...parseSettings(undefined), workers: 0 }, { ...defaults, workers: 0 });
  });

  it('config/lbdns.yaml holds exactly the defaults', () => {
    const file = parseSettings(parseYaml(documented));
    assert.deepEqual({ ...file, workers: 0 }, { ...defaults, workers: 0 });
  });

  it('config/lbdns.yaml documents every key (set, or commented out when its default is computed or unset)', () => {
    const fileKeys = parseYaml(documented) as Record<string, unknown>;
    const missing: string[] = [];
    const walk = (settings: Record<string, unknown>, file: Record<string, unknown> | undefined, path: string[]): void => {
      for (const [key, value] of Object.entries(settings)) {
        const here = [...path, key];
        const inFile = file?.[key];
        // A record keyed by the operator's own names (weights, stubDomains, clientZones) has no keys to document.
        const isTable = value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0;
        if (value !== null && typeof value === 'object' && !Array.isArray(value) && !isTable) walk(value as Record<string, unknown>, inFile as Record<string, unknown> | undefined, here);
        else if (inFile === undefined && !new RegExp(`^\\s*# ${key}:`, 'm').test(documented)) missing.push(here.join('.'));
      }
    };
    // Keys without a default (unset) are documented as comments too.
    const optional = { workers: 2, source: 'kubernetes', objects: 'x', kubeconfig: 'x', kubernetes: { labels: 'x', namespaceLabels: 'x' }, balance: { nodeZone: 'x' }, nodeLocal: { ...parseSettings({ nodeLocal: {} }).nodeLocal, nodeName: 'x' } };
    walk({ ...parseSettings({}), ...optional, kubernetes: { ...parseSettings({}).kubernetes, ...optional.kubernetes }, balance: { ...parseSettings({}).balance, ...optional.balance } }, fileKeys, []);
    assert.deepEqual(missing, []);
  });

  it('node-local mode: off unless nodeLocal is given; then 169.254.20.10 on a dummy link lbdns sets up, served from a wildcard or the address itself', () => {
    assert.equal(defaults.nodeLocal, undefined);
    assert.deepEqual(parseSettings({ nodeLocal: {} }).nodeLocal, { addresses: ['169.254.20.10'], interface: 'nodelocaldns', setupInterface: true, removeOnExit: true });
    assert.deepEqual(parseSettings({ listen: ['169.254.20.10:53', '[fd00::a]:53'], nodeLocal: { addresses: ['169.254.20.10', 'fd00::a'] } }).nodeLocal?.addresses, ['169.254.20.10', 'fd00::a']);
  });

  it('autopath with pods: verified is accepted', () => {
    assert.equal(parseSettings({ autopath: true, pods: 'verified' }).autopath, true);
  });

  it('lowercases zones and drops their root dot', () => {
    assert.deepEqual(parseSettings({ zones: ['Cluster.Local.', 'corp.example'] }).zones, ['cluster.local', 'corp.example']);
    assert.deepEqual(parseSettings({ reverse: { zones: ['IN-ADDR.ARPA.'] } }).reverse.zones, ['in-addr.arpa']);
  });

  it('fills defaults inside a section that is given in part', () => {
    const settings = parseSettings({ forward: { timeoutMs: 500 }, cache: { prefetch: { hits: 3 } }, rateLimit: { responsesPerSecond: 10 } });
    assert.equal(settings.forward.timeoutMs, 500);
    assert.equal(settings.forward.maxConcurrent, 1000);
    assert.deepEqual(settings.cache.prefetch, { hits: 3, percent: 10 });
    assert.equal(settings.rateLimit.slip, 2);
  });
});

describe('parseSettings: every rejected value names its key', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['a string for a number', { ttl: 'forty' }, /^settings: ttl: /],
    ['a TTL below 0', { ttl: -1 }, /^settings: ttl: /],
    ['a TTL above an hour', { ttl: 3601 }, /^settings: ttl: /],
    ['a fractional TTL', { ttl: 1.5 }, /^settings: ttl: /],
    ['no zone at all', { zones: [] }, /^settings: zones: /],
    ['a zone that is no DNS name', { zones: ['cluster.local', 'a..b'] }, /^settings: zones\[1\]: /],
    ['a zone label over 63 bytes', { zones: [`${'x'.repeat(64)}.local`] }, /^settings: zones\[0\]: /],
    ['a zones string instead of a list', { zones: 'cluster.local' }, /^settings: zones: /],
    ['a pods mode that does not exist', { pods: 'trusted' }, /^settings: pods: /],
    ['autopath without pods: verified', { autopath: true }, /^settings: autopath: needs pods: verified/],
    ['an empty namespace name', { namespaces: [''] }, /^settings: namespaces\[0\]: /],
    ['a reverse zone that is no DNS name', { reverse: { zones: ['in-addr..arpa'] } }, /^settings: reverse\.zones\[0\]: /],
    ['workers 0', { workers: 0 }, /^settings: workers: /],
    ['workers above 256', { workers: 257 }, /^settings: workers: /],
    ['a listen address without a port', { listen: ['127.0.0.1'] }, /^settings: listen\[0\]: expected HOST:PORT/],
    ['an IPv6 listen address without brackets', { listen: ['127.0.0.1:53', '::1:53'] }, /^settings: listen\[1\]: /],
    ['no listen address', { listen: [] }, /^settings: listen: /],
    ['an ops address without a port', { ops: { listen: 'localhost' } }, /^settings: ops\.listen: /],
    ['a debug address without a port', { ops: { debugListen: '8081' } }, /^settings: ops\.debugListen: /],
    ['a source that does not exist', { source: 'etcd' }, /^settings: source: /],
    ['an empty objects path', { objects: '' }, /^settings: objects: /],
    ['a watch idle time below 5 s', { kubernetes: { watchIdleSeconds: 1 } }, /^settings: kubernetes\.watchIdleSeconds: /],
    ['a log level that does not exist', { logLevel: 'verbose' }, /^settings: logLevel: /],
    ['a query log share above 1', { queryLogSampleRate: 2 }, /^settings: queryLogSampleRate: /],
    ['a UDP size below 512', { maxUdpSize: 511 }, /^settings: maxUdpSize: /],
    ['an NSID that is no string', { nsid: 7 }, /^settings: nsid: /],
    ['an NSID over 128 characters', { nsid: 'x'.repeat(129) }, /^settings: nsid: /],
    ['a cookies.strict that is no boolean', { cookies: { strict: 'yes' } }, /^settings: cookies\.strict: /],
    ['an unknown key in cookies', { cookies: { secret: 'abc' } }, /^settings: cookies\.secret: unknown key$/],
    ['an answer mode that does not exist', { balance: { answer: 'vip' } }, /^settings: balance\.answer: /],
    ['a policy that does not exist', { balance: { policy: 'fastest' } }, /^settings: balance\.policy: /],
    ['a negative weight', { balance: { weights: { 'web.default.svc.cluster.local': { 'web-0': -1 } } } }, /^settings: balance\.weights\.web\.default\.svc\.cluster\.local\.web-0: /],
    ['a client zone keyed by an address, not a CIDR', { balance: { clientZones: { '10.0.0.1': 'zone-a' } } }, /^settings: balance\.clientZones\.10\.0\.0\.1: /],
    ['an upstream that is no address', { forward: { upstreams: ['dns.google'] } }, /^settings: forward\.upstreams\[0\]: /],
    ['an upstream port out of range', { forward: { upstreams: ['10.0.0.1:70000'] } }, /^settings: forward\.upstreams\[0\]: /],
    ['a stub domain without upstreams', { forward: { stubDomains: { 'corp.example': [] } } }, /^settings: forward\.stubDomains\.corp\.example: /],
    ['a stub domain upstream that is no address', { forward: { stubDomains: { 'corp.example': ['nameserver'] } } }, /^settings: forward\.stubDomains\.corp\.example\[0\]: /],
    ['an upstream policy that does not exist', { forward: { policy: 'fastest' } }, /^settings: forward\.policy: /],
    ['an upstream timeout below 50 ms', { forward: { timeoutMs: 10 } }, /^settings: forward\.timeoutMs: /],
    ['no upstream query in flight allowed', { forward: { maxConcurrent: 0 } }, /^settings: forward\.maxConcurrent: /],
    ['a forwarding prefix longer than an address', { forward: { ipv4PrefixLength: 33 } }, /^settings: forward\.ipv4PrefixLength: /],
    ['an allowed client that is no CIDR', { forward: { allowedClients: ['10.0.0.0'] } }, /^settings: forward\.allowedClients\[0\]: expected a CIDR/],
    ['a negative cache size', { cache: { positiveSize: -1 } }, /^settings: cache\.positiveSize: /],
    ['a prefetch share above 90 %', { cache: { prefetch: { percent: 95 } } }, /^settings: cache\.prefetch\.percent: /],
    ['a slip above 10', { rateLimit: { slip: 11 } }, /^settings: rateLimit\.slip: /],
    ['a negative response rate', { rateLimit: { responsesPerSecond: -5 } }, /^settings: rateLimit\.responsesPerSecond: /],
    ['a rate-limit prefix below 8 bits', { rateLimit: { ipv4PrefixLength: 4 } }, /^settings: rateLimit\.ipv4PrefixLength: /],
    ['a TCP idle timeout below 100 ms', { tcp: { idleTimeoutMs: 50 } }, /^settings: tcp\.idleTimeoutMs: /],
    ['no TCP connection allowed', { tcp: { maxConnections: 0 } }, /^settings: tcp\.maxConnections: /],
    ['a drain of more than 5 minutes', { shutdown: { drainSeconds: 301 } }, /^settings: shutdown\.drainSeconds: /],
    ['a negative answer cache size', { answerCacheSize: -1 }, /^settings: answerCacheSize: /],
    ['a section that is not a mapping', { forward: ['10.0.0.1'] }, /^settings: forward: /],
    ['settings that are a list', ['ttl: 5'], /^settings: \(settings\): /],
    ['settings that are a string', 'ttl: 5', /^settings: \(settings\): /],
    // Unknown keys: a typo must not pass for a default.
    ['an unknown key', { tll: 30 }, /^settings: tll: unknown key$/],
    ['several unknown keys at once', { tll: 30, zone: 'x' }, /^settings: tll, zone: unknown key$/],
    ['an unknown key in a section', { forward: { upstream: ['10.0.0.1'] } }, /^settings: forward\.upstream: unknown key$/],
    ['an unknown key two sections down', { cache: { prefetch: { minHits: 3 } } }, /^settings: cache\.prefetch\.minHits: unknown key$/],
    ['an unknown key in reverse', { reverse: { zones: ['in-addr.arpa'], fallthru: false } }, /^settings: reverse\.fallthru: unknown key$/],
    ['an unknown key in balance.zone', { balance: { zone: { strictly: true } } }, /^settings: balance\.zone\.strictly: unknown key$/],
    ['a node-local address that is no IP address', { nodeLocal: { addresses: ['node.local'] } }, /^settings: nodeLocal\.addresses\[0\]: expected an IP address/],
    ['a node-local address lbdns does not listen on', { listen: ['127.0.0.1:53'], nodeLocal: {} }, /^settings: nodeLocal\.addresses\[0\]: 169\.254\.20\.10 is not in listen; add 169\.254\.20\.10:53$/],
    ['a node-local interface name longer than Linux allows', { nodeLocal: { interface: 'nodelocaldns-lbdns' } }, /^settings: nodeLocal\.interface: /],
    ['an unknown key in nodeLocal', { nodeLocal: { address: '169.254.20.10' } }, /^settings: nodeLocal\.address: unknown key$/],
  ];
  for (const [name, raw, message] of cases) {
    it(name, () => {
      assert.throws(() => parseSettings(raw), (error: unknown) => {
        assert.ok(error instanceof SettingsError, String(error));
        assert.match(error.message, message);
        return true;
      });
    });
  }

  it('names every problem, not only the first, and the file they came from', () => {
    assert.throws(() => parseSettings({ ttl: 'x', pods: 'y', forward: { bogus: 1 } }, '/etc/lbdns/lbdns.yaml'), (error: unknown) => {
      assert.ok(error instanceof SettingsError);
      assert.match(error.message, /^\/etc\/lbdns\/lbdns\.yaml: /);
      for (const key of ['ttl: ', 'pods: ', 'forward.bogus: unknown key']) assert.ok(error.message.includes(key), `${key} in ${error.message}`);
      return true;
    });
  });
});
