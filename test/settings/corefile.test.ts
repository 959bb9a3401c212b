/**
 * Corefiles translated into lbdns settings: kubeadm's default, EKS's, kube-dns-style stub
 * domains, k3s with NodeHosts and imports, a tuned one with every common addition, and what
 * cannot be served (an error naming the plugin and line) or is served differently (a warning).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CorefileError, coreDnsArgs, durationSeconds, parseCorefile, readCorefile, translateCorefile } from '../../src/settings/corefile.ts';
import { loadSettings } from '../../src/settings/load.ts';
import { parseSettings, type Settings } from '../../src/settings/schema.ts';
import { tempFile } from '../helpers/lbdns-process.ts';

const fixtures = fileURLToPath(new URL('./corefiles/', import.meta.url));

/** k3s's Corefile names /etc/coredns/…: read those from the fixture folder instead. */
const k3sSource = {
  readFile: (path: string) => readFileSync(path.replace('/etc/coredns/', join(fixtures, 'k3s/')), 'utf8'),
  glob: (pattern: string) => {
    const dir = dirname(pattern).replace('/etc/coredns', join(fixtures, 'k3s'));
    const suffix = basename(pattern).replace('*', '');
    return readdirSync(dir)
      .filter((n) => n.endsWith(suffix))
      .sort()
      .map((n) => join(dirname(pattern), n));
  },
};

function translate(name: string, source = {}) {
  const path = join(fixtures, name);
  const { blocks } = readCorefile(readFileSync(path, 'utf8'), path, source);
  const translation = translateCorefile(blocks, dirname(path));
  return { ...translation, settings: parseSettings(translation.settings, name) };
}

function translateText(text: string) {
  const translation = translateCorefile(parseCorefile(text));
  return { ...translation, settings: parseSettings(translation.settings) };
}

type Check = (s: Settings) => void;

const cases: Array<{ name: string; fixture: string; source?: object; settings: Check; warnings: RegExp[]; notes?: RegExp[] }> = [
  {
    name: 'kubeadm 1.32 default: every plugin has an lbdns equivalent, nothing to warn about',
    fixture: 'kubeadm-1.32.Corefile',
    settings: (s) => {
      assert.deepEqual(s.zones, ['cluster.local']);
      assert.deepEqual(s.reverse, { zones: ['in-addr.arpa', 'ip6.arpa'], fallthrough: true });
      assert.equal(s.pods, 'insecure');
      assert.equal(s.ttl, 30);
      assert.deepEqual(s.listen, ['0.0.0.0:53', '[::]:53']);
      assert.deepEqual(s.forward.upstreams, []);
      assert.equal(s.forward.resolvConf, '/etc/resolv.conf');
      assert.equal(s.forward.maxConcurrent, 1000);
      assert.equal(s.cache.maxTtl, 30);
      assert.equal(s.cache.negativeMaxTtl, 30);
      assert.equal(s.shutdown.drainSeconds, 5);
      // Prometheus's port is the ops listener; kubelet's probes keep theirs (8080 /health, 8181 /ready).
      assert.equal(s.ops.listen, '0.0.0.0:9153');
      assert.deepEqual(s.ops.alsoListen, ['0.0.0.0:8080', '0.0.0.0:8181']);
      assert.equal(s.queryLogSampleRate, 0);
      assert.equal(s.autopath, false);
    },
    warnings: [],
    notes: [/:2: errors/, /:20: loop/, /:21: reload/, /:22: loadbalance/],
  },
  {
    name: 'EKS: no cluster-zone ttl (the kubernetes plugin’s 5 s), no lameduck options beyond 5 s',
    fixture: 'eks.Corefile',
    settings: (s) => {
      assert.equal(s.ttl, 5);
      assert.equal(s.shutdown.drainSeconds, 5);
      assert.equal(s.cache.maxTtl, 30);
      assert.equal(s.forward.resolvConf, '/etc/resolv.conf');
    },
    warnings: [],
  },
  {
    name: 'kube-dns-style stub domains: per-zone upstreams, the root block’s forward options',
    fixture: 'stub-domains.Corefile',
    settings: (s) => {
      assert.deepEqual(s.forward.upstreams, ['172.16.0.1:53', '172.16.0.2:53']);
      assert.equal(s.forward.policy, 'sequential');
      assert.deepEqual(s.forward.stubDomains, { 'consul.local': ['10.150.0.1:53'], 'acme.local': ['1.2.3.4:5353', '[fd00::53]:53'] });
    },
    // The stub blocks' own "cache 30" is the root block's cache already.
    warnings: [],
  },
  {
    name: 'k3s: NodeHosts as a hosts file, custom .override and .server imports expanded',
    fixture: 'k3s/Corefile',
    source: k3sSource,
    settings: (s) => {
      assert.deepEqual(s.hosts, { files: ['/etc/coredns/NodeHosts'], entries: [], ttl: 60, reverse: true });
      assert.equal(s.queryLogSampleRate, 1, 'the imported log.override');
      assert.deepEqual(s.forward.stubDomains, { 'corp.example': ['10.20.0.53:53'] }, 'the imported corp.server');
      assert.equal(s.ttl, 5);
    },
    warnings: [],
    notes: [/Corefile:11: hosts reload/],
  },
  {
    name: 'tuned: bind, ports, autopath, kubernetes options, inline hosts, forward and cache options',
    fixture: 'tuned.Corefile',
    settings: (s) => {
      assert.deepEqual(s.listen, ['127.0.0.1:1053', '[::1]:1053']);
      assert.equal(s.ops.listen, '127.0.0.1:19153');
      assert.deepEqual(s.ops.alsoListen, ['127.0.0.1:18080', '127.0.0.1:18181']);
      assert.equal(s.shutdown.drainSeconds, 10);
      assert.equal(s.queryLogSampleRate, 1);
      assert.equal(s.autopath, true);
      assert.equal(s.pods, 'verified');
      assert.equal(s.ttl, 10);
      assert.equal(s.endpointPodNames, true);
      assert.deepEqual(s.namespaces, ['default', 'kube-system']);
      assert.equal(s.ignoreEmptyService, true);
      assert.deepEqual(s.hosts, { files: ['/etc/hosts'], entries: ['192.0.2.10 legacy-db.example legacy-db', '2001:db8::10 legacy-db.example'], ttl: 15, reverse: false });
      assert.deepEqual(s.forward.upstreams, ['8.8.8.8:53', '8.8.4.4:53']);
      assert.equal(s.forward.maxConcurrent, 500);
      assert.equal(s.forward.policy, 'round_robin');
      assert.equal(s.forward.maxFails, 3);
      assert.equal(s.cache.positiveSize, 20000);
      assert.equal(s.cache.maxTtl, 300);
      assert.equal(s.cache.negativeSize, 5000);
      assert.equal(s.cache.negativeMaxTtl, 60);
      assert.deepEqual(s.cache.prefetch, { hits: 20, percent: 15 });
      assert.equal(s.cache.serveStale, 1800);
    },
    warnings: [/tuned.Corefile:31: forward health_check: ignored/, /tuned.Corefile:36: cache prefetch: the 1m window is ignored/],
  },
];

describe('translateCorefile: real-world Corefiles', () => {
  for (const c of cases) {
    it(c.name, () => {
      const { settings, warnings, notes } = translate(c.fixture, c.source);
      c.settings(settings);
      assert.equal(warnings.length, c.warnings.length, `warnings: ${JSON.stringify(warnings)}`);
      for (const [i, pattern] of c.warnings.entries()) assert.match(warnings[i]!, pattern);
      for (const pattern of c.notes ?? []) assert.ok(notes.some((n) => pattern.test(n)), `a note matching ${pattern} in ${JSON.stringify(notes)}`);
    });
  }

  it('rewrite: an error naming the plugin and its line', () => {
    assert.throws(() => translate('rewrite.Corefile'), (error: Error) => error instanceof CorefileError && /rewrite.Corefile:5: plugin "rewrite" is not supported/.test(error.message));
  });
});

describe('translateCorefile: one directive at a time', () => {
  const base = (extra: string, kubernetes = '    kubernetes cluster.local in-addr.arpa ip6.arpa {\n        pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n    }\n') =>
    `.:53 {\n${kubernetes}    forward . 10.0.0.10\n${extra}}\n`;

  const errors: Array<[string, string, RegExp]> = [
    ['an unknown plugin', base('    template IN A example.org {\n        answer "{{ .Name }} 60 IN A 127.0.0.1"\n    }\n'), /^Corefile:7: plugin "template" is not supported$/],
    ['an unknown kubernetes option', base('', '    kubernetes cluster.local {\n        multicluster clusterset.local\n    }\n'), /Corefile:3: kubernetes option "multicluster" is not supported/],
    ['DNS over TLS upstreams', '.:53 {\n    kubernetes cluster.local\n    forward . tls://1.1.1.1 {\n        tls_servername cloudflare-dns.com\n    }\n}\n', /Corefile:3: forward: tls:\/\/ upstreams are not supported.*Corefile:4: forward tls_servername/],
    ['a host name as upstream', '.:53 {\n    kubernetes cluster.local\n    forward . dns.google\n}\n', /Corefile:3: forward: "dns.google" is not an IP address/],
    ['autopath without pods verified', base('    autopath @kubernetes\n'), /Corefile:7: autopath: needs "pods verified"/],
    ['two ports', `${base('')}example.org:5353 {\n    forward . 10.0.0.1\n}\n`, /Corefile:8: server block "example.org:5353": port 5353 differs from 53/],
    ['no kubernetes plugin', '.:53 {\n    forward . 10.0.0.1\n}\n', /no kubernetes plugin/],
    ['a TLS server block', `${base('')}tls://.:853 {\n    forward . 10.0.0.1\n}\n`, /only plain DNS/],
    ['a stub domain forwarding to a file', `${base('')}corp:53 {\n    forward . /etc/corp-resolv.conf\n}\n`, /Corefile:9: forward \.: lbdns forwards a domain to addresses only/],
    ['a bad ttl', base('', '    kubernetes cluster.local {\n        ttl 99999\n    }\n'), /Corefile:3: kubernetes ttl: expected a whole number from 0 to 3600/],
    ['a bad lameduck', base('    health {\n        lameduck soon\n    }\n'), /Corefile:8: health lameduck: expected a duration/],
    ['every problem at once', base('    rewrite name a b\n    dnssec\n'), /Corefile:7: plugin "rewrite".*; Corefile:8: plugin "dnssec"/],
  ];
  for (const [name, text, pattern] of errors) {
    it(`error: ${name}`, () => {
      assert.throws(() => translateText(text), (error: Error) => error instanceof CorefileError && pattern.test(error.message), 'expected a CorefileError');
    });
  }

  const translated: Array<[string, string, Check, RegExp | null]> = [
    ['prometheus without an address: localhost:9153', base('    prometheus\n'), (s) => assert.equal(s.ops.listen, '127.0.0.1:9153'), null],
    ['health alone: its address is the ops listener', base('    health :8080\n'), (s) => (assert.equal(s.ops.listen, '0.0.0.0:8080'), assert.equal(s.ops.alsoListen, undefined)), null],
    ['no ops plugin: lbdns’s default ops address', base(''), (s) => assert.equal(s.ops.listen, '127.0.0.1:8080'), null],
    ['kubernetes zones from the server block', 'cluster.local:53 {\n    kubernetes\n}\n.:53 {\n    forward . 10.0.0.10\n}\n', (s) => (assert.deepEqual(s.zones, ['cluster.local']), assert.deepEqual(s.reverse.zones, [])), null],
    ['no fallthrough: reverse names lbdns does not know get NXDOMAIN', base('', '    kubernetes cluster.local in-addr.arpa ip6.arpa\n'), (s) => assert.equal(s.reverse.fallthrough, false), null],
    ['fallthrough for the cluster zone: a warning', base('', '    kubernetes cluster.local in-addr.arpa {\n        fallthrough\n    }\n'), (s) => assert.equal(s.reverse.fallthrough, true), /Corefile:2: kubernetes fallthrough cluster.local: cluster names lbdns does not know get NXDOMAIN/],
    ['labels and namespace_labels', base('', '    kubernetes cluster.local {\n        labels app in (web, api)\n        namespace_labels team=dns\n    }\n'), (s) => assert.deepEqual([s.kubernetes.labels, s.kubernetes.namespaceLabels], ['app in (web, api)', 'team=dns']), null],
    ['forward FROM a domain inside a stub block', `${base('')}corp.example:53 {\n    forward lab.corp.example 10.9.9.9\n}\n`, (s) => assert.deepEqual(s.forward.stubDomains, { 'lab.corp.example': ['10.9.9.9:53'] }), null],
    ['a stub block’s cache unlike the root’s: a warning', `${base('    cache 30\n')}corp:53 {\n    cache 5\n    forward . 10.9.9.9\n}\n`, (s) => assert.equal(s.cache.maxTtl, 30), /Corefile:10: cache: lbdns has one cache/],
    ['forward options in a stub block: a warning', `${base('')}corp:53 {\n    forward . 10.9.9.9 {\n        policy sequential\n    }\n}\n`, (s) => assert.equal(s.forward.policy, 'random'), /Corefile:10: forward policy: ignored here/],
    ['bufsize', base('    bufsize 1400\n'), (s) => assert.equal(s.maxUdpSize, 1400), null],
    ['log with a class filter: every query is logged, with a warning', base('    log . {\n        class denial\n    }\n'), (s) => assert.equal(s.queryLogSampleRate, 1), /Corefile:7: log: every query is logged/],
    ['hosts without fallthrough: a warning', base('    hosts /etc/extra-hosts\n'), (s) => assert.deepEqual(s.hosts.files, ['/etc/extra-hosts']), /Corefile:7: hosts without fallthrough/],
    ['no forward at all: names outside the zones are refused, as CoreDNS does', '.:53 {\n    kubernetes cluster.local\n}\n', (s) => assert.deepEqual(s.forward.allowedClients, []), /no "forward \." in a "\." block/],
    ['{$ENV} substitution', '.:{$DNS_PORT} {\n    kubernetes cluster.local\n    forward . {%UPSTREAM%}\n}\n', (s) => (assert.deepEqual(s.listen, ['0.0.0.0:1053', '[::]:1053']), assert.deepEqual(s.forward.upstreams, ['10.1.2.3:53'])), null],
    ['snippets imported by name', '(common) {\n    errors\n    cache 15\n}\n.:53 {\n    import common\n    kubernetes cluster.local\n    forward . 10.0.0.10\n}\n', (s) => assert.equal(s.cache.maxTtl, 15), null],
  ];
  for (const [name, text, check, warning] of translated) {
    it(name, () => {
      process.env.DNS_PORT = '1053';
      process.env.UPSTREAM = '10.1.2.3';
      const { settings, warnings } = translateText(text);
      check(settings);
      if (warning) assert.ok(warnings.some((w) => warning.test(w)), `a warning matching ${warning} in ${JSON.stringify(warnings)}`);
      else assert.deepEqual(warnings, []);
    });
  }
});

describe('parseCorefile', () => {
  it('reads braces glued to words, quoted words with spaces, and comments', () => {
    const [block] = parseCorefile('.:53{ # the root\n  log "{remote} asked {name}" a#b\n  forward . 10.0.0.1 # upstream\n}\n');
    assert.deepEqual(block!.keys, ['.:53']);
    assert.deepEqual(block!.directives.map((d) => [d.name, d.args, d.at]), [
      ['log', ['{remote} asked {name}', 'a#b'], 'Corefile:2'],
      ['forward', ['.', '10.0.0.1'], 'Corefile:3'],
    ]);
  });

  it('refuses unbalanced braces with the line', () => {
    assert.throws(() => parseCorefile('.:53 {\n  forward . 10.0.0.1 {\n}\n'), /Corefile:1: the block opened here is not closed/);
    assert.throws(() => parseCorefile('.:53 {\n}\n}\n'), /Corefile:3: expected "zone:port \{"/);
  });

  it('stops imports that import themselves', () => {
    const loop = tempFile('loop.conf', 'import loop.conf\n');
    assert.throws(() => parseCorefile(`.:53 {\n  import ${loop}\n}\n`), /imports nest deeper than 10/);
  });

  it('an import glob that matches nothing adds nothing', () => {
    const dir = dirname(tempFile('x', ''));
    const blocks = parseCorefile(`.:53 {\n  import ${dir}/*.override\n  errors\n}\n`);
    assert.deepEqual(blocks[0]!.directives.map((d) => d.name), ['errors']);
  });
});

describe('the command line and durations', () => {
  it('coreDnsArgs: the coredns Deployment’s -conf is --corefile', () => {
    assert.deepEqual(coreDnsArgs(['-conf', '/etc/coredns/Corefile']), ['--corefile', '/etc/coredns/Corefile']);
    assert.deepEqual(coreDnsArgs(['-conf=/x', '--workers', '2']), ['--corefile=/x', '--workers', '2']);
  });

  it('durationSeconds', () => {
    assert.deepEqual(['5s', '1m30s', '500ms', '2h', '7', 'soon'].map(durationSeconds), [5, 90, 0.5, 7200, 7, null]);
  });
});

describe('loadSettings with a Corefile', () => {
  it('lays a settings file over the Corefile’s settings, and flags over both', () => {
    const corefile = tempFile('Corefile', readFileSync(join(fixtures, 'kubeadm-1.32.Corefile'), 'utf8'));
    const config = tempFile('lbdns.yaml', 'balance:\n  policy: zone\nforward:\n  timeoutMs: 700\n');
    const settings = loadSettings(corefile, { corefile, config, listen: ['127.0.0.1:5353'] });
    assert.equal(settings.balance.policy, 'zone');
    assert.equal(settings.forward.timeoutMs, 700);
    assert.equal(settings.forward.maxConcurrent, 1000, 'the Corefile’s forward options stay');
    assert.deepEqual(settings.listen, ['127.0.0.1:5353']);
    assert.equal(settings.ttl, 30);
  });
});

describe('hosts settings', () => {
  it('rejects an entry that is not "ADDRESS NAME…", naming the key', () => {
    assert.throws(() => parseSettings({ hosts: { entries: ['192.0.2.1 ok', '10.0.0.1'] } }), /hosts\.entries\[1\]: "10\.0\.0\.1" names no host/);
    assert.throws(() => parseSettings({ hosts: { entries: ['999.0.0.1 bad'] } }), /hosts\.entries\[0\]: "999\.0\.0\.1" is not an IP address/);
  });
});
