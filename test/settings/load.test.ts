/** loadSettings: the settings file, with command-line flags laid over it key by key. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadSettings } from '../../src/settings/load.ts';
import { SettingsError } from '../../src/settings/schema.ts';
import { tempFile } from '../helpers/lbdns-process.ts';

const FILE = `
zones: [cluster.local]
ttl: 30
listen: ["0.0.0.0:53"]
objects: /from/the/file.yaml
logLevel: warn
workers: 3
ops:
  listen: 0.0.0.0:8080
  debugListen: 127.0.0.1:9999
forward:
  upstreams: ["10.0.0.2"]
  timeoutMs: 700
`;

describe('loadSettings', () => {
  it('reads the file when no flag is given', () => {
    const settings = loadSettings(tempFile('lbdns.yaml', FILE), {});
    assert.equal(settings.ttl, 30);
    assert.deepEqual(settings.listen, ['0.0.0.0:53']);
    assert.equal(settings.objects, '/from/the/file.yaml');
    assert.deepEqual(settings.forward.upstreams, ['10.0.0.2']);
    assert.equal(settings.workers, 3);
  });

  // Each flag: the settings it gives, and what of the file it must leave alone.
  const flagCases: Array<[string, Parameters<typeof loadSettings>[1], (s: ReturnType<typeof loadSettings>) => void]> = [
    ['--listen replaces the file’s list', { listen: ['127.0.0.1:5353', '[::1]:5353'] }, (s) => assert.deepEqual(s.listen, ['127.0.0.1:5353', '[::1]:5353'])],
    ['--zone replaces the file’s zones (lowercase, as the file’s would be)', { zone: ['Corp.Example.'] }, (s) => assert.deepEqual(s.zones, ['corp.example'])],
    ['--objects replaces the file’s', { objects: '/from/the/flag.yaml' }, (s) => assert.equal(s.objects, '/from/the/flag.yaml')],
    ['--kubeconfig', { kubeconfig: '/home/me/.kube/config' }, (s) => assert.equal(s.kubeconfig, '/home/me/.kube/config')],
    ['--ops-listen keeps the file’s debugListen', { opsListen: '127.0.0.1:18080' }, (s) => assert.deepEqual(s.ops, { listen: '127.0.0.1:18080', debugListen: '127.0.0.1:9999' })],
    ['--debug-listen keeps the file’s ops listen', { debugListen: '127.0.0.1:18081' }, (s) => assert.deepEqual(s.ops, { listen: '0.0.0.0:8080', debugListen: '127.0.0.1:18081' })],
    ['--ops-listen and --debug-listen together', { opsListen: '127.0.0.1:1', debugListen: '127.0.0.1:2' }, (s) => assert.deepEqual(s.ops, { listen: '127.0.0.1:1', debugListen: '127.0.0.1:2' })],
    ['--upstream keeps the file’s other forward settings', { upstream: ['10.0.0.3:5353'] }, (s) => assert.deepEqual([s.forward.upstreams, s.forward.timeoutMs], [['10.0.0.3:5353'], 700])],
    ['--log-level', { logLevel: 'debug' }, (s) => assert.equal(s.logLevel, 'debug')],
    ['--workers', { workers: 1 }, (s) => assert.equal(s.workers, 1)],
  ];
  for (const [name, flags, check] of flagCases) {
    it(`${name}, and the file’s other keys stay`, () => {
      const settings = loadSettings(tempFile('lbdns.yaml', FILE), flags);
      check(settings);
      assert.equal(settings.ttl, 30, 'a key no flag touches');
    });
  }

  it('uses the flags alone without a file', () => {
    const settings = loadSettings(undefined, { listen: ['127.0.0.1:5353'], zone: ['corp.example'], workers: 2 });
    assert.deepEqual([settings.listen, settings.zones, settings.workers, settings.ttl], [['127.0.0.1:5353'], ['corp.example'], 2, 5]);
  });

  it('validates what the flags give, naming the key and the file', () => {
    const path = tempFile('lbdns.yaml', FILE);
    const cases: Array<[Parameters<typeof loadSettings>[1], RegExp]> = [
      [{ workers: Number('two') }, /workers: /],
      [{ workers: 0 }, /workers: /],
      [{ listen: ['localhost'] }, /listen\[0\]: expected HOST:PORT/],
      [{ opsListen: '8080' }, /ops\.listen: /],
      [{ upstream: ['dns.google'] }, /forward\.upstreams\[0\]: /],
      [{ logLevel: 'loud' }, /logLevel: /],
      [{ zone: ['a..b'] }, /zones\[0\]: /],
      [{ zone: [''] }, /zones\[0\]: empty/],
      [{ listen: ['localhost:53'] }, /listen\[0\]: expected HOST:PORT with an IP address/],
      [{ listen: ['127.0.0.1:99999'] }, /listen\[0\]: expected HOST:PORT/],
      [{ opsListen: 'metrics.internal:9153' }, /ops\.listen: expected HOST:PORT with an IP address/],
    ];
    for (const [flags, message] of cases) {
      assert.throws(() => loadSettings(path, flags), (error: unknown) => {
        assert.ok(error instanceof SettingsError, String(error));
        assert.ok(error.message.startsWith(`${path}: `), error.message);
        assert.match(error.message, message);
        return true;
      });
    }
  });

  it('rejects a file that cannot be read, is not YAML, or is not a mapping, naming the file', () => {
    const cases: Array<[string, RegExp]> = [
      ['/nonexistent/lbdns.yaml', /^\/nonexistent\/lbdns\.yaml: cannot read: /],
      [tempFile('lbdns.yaml', 'ttl: [\n'), /lbdns\.yaml: not YAML: /],
      [tempFile('lbdns.yaml', '- ttl: 5\n'), /lbdns\.yaml: expected a mapping of settings keys/],
      [tempFile('lbdns.yaml', 'just words\n'), /lbdns\.yaml: expected a mapping of settings keys/],
      [tempFile('lbdns.yaml', 'ttl: 5\ntll: 6\n'), /lbdns\.yaml: tll: unknown key/],
    ];
    for (const [path, message] of cases) assert.throws(() => loadSettings(path, {}), (error: unknown) => error instanceof SettingsError && message.test(error.message));
  });

  it('rejects an empty file, or one of comments only, instead of taking every default; {} is every default', () => {
    for (const text of ['', '# nothing set\n', '---\n', '\n\n']) {
      const path = tempFile('lbdns.yaml', text);
      assert.throws(() => loadSettings(path, {}), (error: unknown) => error instanceof SettingsError && error.message === `${path}: empty (no settings in it); write {} to run on every default`, JSON.stringify(text));
    }
    assert.equal(loadSettings(tempFile('lbdns.yaml', '{}\n'), {}).ttl, 5);
  });

  it('lets a source flag win over the file’s source', () => {
    const fromFile = tempFile('lbdns.yaml', 'source: kubernetes\n');
    const objects = loadSettings(fromFile, { objects: '/from/the/flag.yaml' });
    assert.deepEqual([objects.source, objects.objects], ['file', '/from/the/flag.yaml']);
    const kubernetes = loadSettings(tempFile('lbdns.yaml', 'source: file\nobjects: /from/the/file.yaml\n'), { kubeconfig: '/home/me/.kube/config' });
    assert.deepEqual([kubernetes.source, kubernetes.kubeconfig], ['kubernetes', '/home/me/.kube/config']);
    assert.throws(() => loadSettings(fromFile, { objects: '/a.yaml', kubeconfig: '/b' }), /--objects and --kubeconfig name two sources/);
  });

  it('rejects CIDRs that are no address range in every CIDR setting, naming the key', () => {
    const cases: Array<[string, RegExp]> = [
      ['balance:\n  clientZones:\n    999.0.0.0/24: zone-a\n', /: balance\.clientZones\.999\.0\.0\.0\/24: expected a CIDR/],
      ['balance:\n  clientZones:\n    10.244.0.0/99: zone-a\n', /: balance\.clientZones\.10\.244\.0\.0\/99: expected a CIDR/],
      ['balance:\n  clientZones:\n    "fd00::/129": zone-a\n', /: balance\.clientZones\.fd00::\/129: expected a CIDR/],
      ['forward:\n  allowedClients: [10.0.0.0/8, 999.0.0.0/24]\n', /: forward\.allowedClients\[1\]: expected a CIDR/],
      ['forward:\n  allowedClients: [10.0.0.0/99]\n', /: forward\.allowedClients\[0\]: expected a CIDR/],
      ['forward:\n  allowedClients: [10.0.0.0/]\n', /: forward\.allowedClients\[0\]: expected a CIDR/],
    ];
    for (const [text, message] of cases) assert.throws(() => loadSettings(tempFile('lbdns.yaml', text), {}), (error: unknown) => error instanceof SettingsError && message.test(error.message), text);
    const good = loadSettings(tempFile('lbdns.yaml', 'balance:\n  clientZones:\n    10.244.0.0/16: zone-a\n    "fd00:10:244::/64": zone-b\nforward:\n  allowedClients: [0.0.0.0/0, "::/0"]\n'), {});
    assert.deepEqual(Object.keys(good.balance.clientZones), ['10.244.0.0/16', 'fd00:10:244::/64']);
  });
});
