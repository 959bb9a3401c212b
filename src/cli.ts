/**
 * `lbdns`: reads flags and settings, prints usage, hands the settings to `app.ts` (which builds and
 * runs everything), and turns signals into reloads and drains and failures into exit codes.
 */
import { parseArgs } from 'node:util';
import { type FlagOverrides, type SettingsText, parseSettingsText, readSettingsText } from './settings/load.ts';
import { SettingsError, type Settings } from './settings/schema.ts';
import { App, StartFailed } from './app.ts';
import { coreDnsArgs } from './settings/corefile.ts';
import { packageVersion } from './util/package-root.ts';

const USAGE = `Usage: lbdns [--config FILE] [--corefile FILE] [--objects FILE | --kubeconfig FILE] [--listen HOST:PORT]... [--zone NAME]...
             [--upstream ADDR[:PORT]]... [--ops-listen HOST:PORT] [--debug-listen HOST:PORT] [--workers N]
             [--io auto|batch|dgram] [--log-level LEVEL] [--version]

  --config FILE          YAML settings (see config/lbdns.yaml); flags override it
  --corefile FILE        CoreDNS's Corefile (also -conf FILE, as the coredns Deployment passes it),
                         translated into settings; --config is laid over it, flags over both
  --objects FILE         serve Kubernetes objects from a file (kubectl get -o yaml/json output, multi-document YAML)
  --kubeconfig FILE      watch the Kubernetes API with this kubeconfig (default: the pod's service
                         account in a pod, else $KUBECONFIG or ~/.kube/config)
  --listen HOST:PORT     address to serve DNS on over UDP and TCP (repeatable; default 0.0.0.0:53)
  --zone NAME            cluster zone to serve (repeatable; default cluster.local)
  --upstream ADDR[:PORT] where names outside the zones go (repeatable; default: /etc/resolv.conf's nameservers)
  --ops-listen HOST:PORT HTTP address for /health, /ready and /metrics (default 127.0.0.1:8080)
  --debug-listen HOST:PORT
                         HTTP address for /debug/balance (default 127.0.0.1:8081)
  --workers N            serving threads sharing the DNS port (default: the CPUs lbdns may use)
  --io auto|batch|dgram  UDP I/O: batched through the native addon, or node:dgram (default auto:
                         batch when the addon is built, else dgram)
  --log-level LEVEL      fatal, error, warn, info, debug, trace or silent (default info)
  --version              print the version and exit
`;

function readFlags(argv: string[]) {
  const { values } = parseArgs({
    args: coreDnsArgs(argv),
    options: {
      config: { type: 'string' },
      corefile: { type: 'string' },
      objects: { type: 'string' },
      kubeconfig: { type: 'string' },
      'ops-listen': { type: 'string' },
      'debug-listen': { type: 'string' },
      listen: { type: 'string', multiple: true },
      zone: { type: 'string', multiple: true },
      upstream: { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      workers: { type: 'string' },
      io: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
    strict: true,
  });
  return values;
}

function settingsFlags(flags: ReturnType<typeof readFlags>): FlagOverrides {
  return {
    objects: flags.objects,
    kubeconfig: flags.kubeconfig,
    opsListen: flags['ops-listen'],
    debugListen: flags['debug-listen'],
    listen: flags.listen,
    zone: flags.zone,
    upstream: flags.upstream,
    logLevel: flags['log-level'],
    workers: flags.workers === undefined ? undefined : Number(flags.workers),
    io: flags.io,
    corefile: flags.corefile,
    config: flags.config,
  };
}

export async function main(argv: string[]): Promise<void> {
  let flags;
  let settings: Settings;
  // The bytes the settings came from: the settings watch starts from their digest.
  let settingsFile: SettingsText | null;
  let settingsPath: string | undefined;
  try {
    flags = readFlags(argv);
    if (flags.help) {
      process.stdout.write(USAGE);
      return;
    }
    if (flags.version) {
      process.stdout.write(`lbdns ${packageVersion()}\n`);
      return;
    }
    // A Corefile is the file watched; a settings file next to it is read with it.
    settingsPath = flags.corefile ?? flags.config;
    settingsFile = settingsPath ? readSettingsText(settingsPath, settingsFlags(flags)) : null;
    settings = parseSettingsText(settingsFile, settingsPath, settingsFlags(flags));
  } catch (error) {
    process.stderr.write(`lbdns: ${(error as Error).message}\n${error instanceof SettingsError ? '' : USAGE}`);
    process.exitCode = 2;
    return;
  }

  let app: App;
  try {
    app = new App({
      settings,
      config: settingsPath && settingsFile ? { path: settingsPath, file: settingsFile } : undefined,
      flags: settingsFlags(flags),
      // Workers keep dying: exit, so that the process is restarted whole.
      onFatal: () => process.exit(1),
    });
    process.on('SIGHUP', () => app.reloadSettings('SIGHUP'));
    await app.start();
  } catch (error) {
    if (!(error instanceof StartFailed)) throw error;
    // Once a listener or thread runs the process would not end by itself: end it now.
    if (error.mustExit) process.exit(error.exitCode);
    process.exitCode = error.exitCode;
    return;
  }

  const stop = (signal: string, drainSeconds: number): void => {
    void app.drain(signal, drainSeconds).then((stopped) => {
      if (stopped) setTimeout(() => process.exit(0), 50).unref();
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM', app.settings().shutdown.drainSeconds));
  process.on('SIGINT', () => stop('SIGINT', 0));
}

await main(process.argv.slice(2));
