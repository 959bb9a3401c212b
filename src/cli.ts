/**
 * `lbdns`: reads settings and flags, builds the cluster view from its source, and serves DNS
 * over UDP and TCP until SIGTERM or SIGINT.
 */
import { parseArgs } from 'node:util';
import type { Server } from 'node:net';
import { createLogger } from './log.ts';
import { type FlagOverrides, type SettingsText, parseSettingsText, readSettingsText } from './settings/load.ts';
import { applicableNow, watchSettings } from './settings/reload.ts';
import { SettingsError, type Settings } from './settings/schema.ts';
import { ClusterView } from './view/cluster-view.ts';
import { ObjectsFileError, watchObjectsFile } from './sources/objects-file.ts';
import type { KubernetesSource } from './sources/kubernetes/kubernetes-source.ts';
import { Metrics } from './ops/metrics.ts';
import { listenHttp, opsRoutes } from './ops/http-server.ts';
import { auditPorts } from './balance/port-audit.ts';
import { debugBalanceRoute } from './ops/debug-routes.ts';
import { type ListenAddress, formatListenAddress, parseListenAddress } from './server/listen-address.ts';
import { type BoundListen, ServingThread, listenAddresses } from './server/serving.ts';
import { WorkerPool } from './workers/pool.ts';

const USAGE = `Usage: lbdns [--config FILE] [--objects FILE | --kubeconfig FILE] [--listen HOST:PORT]... [--zone NAME]...
             [--upstream ADDR[:PORT]]... [--ops-listen HOST:PORT] [--debug-listen HOST:PORT] [--workers N]
             [--log-level LEVEL]

  --config FILE          YAML settings (see config/lbdns.yaml); flags override it
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
  --log-level LEVEL      fatal, error, warn, info, debug, trace or silent (default info)
`;

function readFlags(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      objects: { type: 'string' },
      kubeconfig: { type: 'string' },
      'ops-listen': { type: 'string' },
      'debug-listen': { type: 'string' },
      listen: { type: 'string', multiple: true },
      zone: { type: 'string', multiple: true },
      upstream: { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      workers: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
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
  };
}

function sameAddress(a: ListenAddress, b: ListenAddress): boolean {
  return a.host === b.host && a.port === b.port;
}

export async function main(argv: string[]): Promise<void> {
  let flags;
  let settings: Settings;
  // The bytes the settings came from: the settings watch starts from their digest.
  let settingsFile: SettingsText | null;
  try {
    flags = readFlags(argv);
    if (flags.help) {
      process.stdout.write(USAGE);
      return;
    }
    settingsFile = flags.config ? readSettingsText(flags.config) : null;
    settings = parseSettingsText(settingsFile, flags.config, settingsFlags(flags));
  } catch (error) {
    process.stderr.write(`lbdns: ${(error as Error).message}\n${error instanceof SettingsError ? '' : USAGE}`);
    process.exitCode = 2;
    return;
  }

  const log = createLogger(settings.logLevel);
  const metrics = new Metrics();
  // With workers, this view only feeds theirs: they answer the queries, and keep the IP index.
  const view = new ClusterView({ requireNamespaceObjects: settings.kubernetes.namespaceLabels !== undefined, indexByIp: settings.workers === 1 });
  const state = { ready: false, draining: false };
  metrics.viewCounts = () => view.counts();
  // Settings as last accepted: read by the debug route and the drain, swapped on a reload.
  let current = settings;

  // One worker: the main thread serves. More: each worker thread serves a replica of this view.
  let local: ServingThread | null = null;
  if (settings.workers === 1) {
    try {
      local = new ServingThread(view, settings, log, state);
    } catch (error) {
      log.fatal({ err: (error as Error).message }, 'cannot serve these settings');
      process.exitCode = 2;
      return;
    }
    const thread = local;
    metrics.serving = () => [thread.stats()];
  }
  const portAudit = auditPorts(view, () => current, log);
  view.onUpdate(portAudit.onUpdate);
  view.onChange(portAudit.onChange);
  metrics.portMismatch = portAudit.counts;

  const workers = local
    ? null
    : new WorkerPool({
        count: settings.workers,
        settings,
        view,
        listen: listenAddresses(settings),
        log,
        onRestart: () => metrics.workerRestarts.inc(),
        onFailure: (index, reason) => {
          log.fatal({ worker: index, reason }, 'serving workers keep dying; exiting so that the process is restarted whole');
          log.flush();
          process.exit(1);
        },
      });

  // Watched before anything is served, starting from the version read above: a ConfigMap update
  // at any moment after that read is applied, none is taken for the one already served.
  metrics.configLastReloadSuccessful.set(1);
  const settingsWatch =
    flags.config && settingsFile
      ? watchSettings(
          flags.config,
          settingsFile.digest,
          settingsFlags(flags),
          log,
          (published) => {
            const { settings: next, pendingRestart } = applicableNow(current, published);
            if (pendingRestart.length > 0) log.warn({ keys: pendingRestart }, 'these settings take effect only after a restart');
            local?.reload(next);
            workers?.reload(next);
            log.level = next.logLevel;
            current = next;
            portAudit.recheck();
          },
          (ok) => {
            metrics.configReloads.inc({ result: ok ? 'success' : 'failure' });
            metrics.configLastReloadSuccessful.set(ok ? 1 : 0);
          },
        )
      : null;
  process.on('SIGHUP', () => settingsWatch?.reload('SIGHUP'));

  const setReady = (): void => {
    state.ready = true;
    workers?.setReady();
  };

  const sourceKind = settings.source ?? (settings.objects ? 'file' : 'kubernetes');
  let stopSource: () => void;
  if (sourceKind === 'file') {
    if (!settings.objects) {
      log.fatal('source: file needs an objects file (--objects FILE or the objects setting)');
      process.exitCode = 2;
      return;
    }
    try {
      stopSource = watchObjectsFile(settings.objects, view, log).close;
    } catch (error) {
      log.fatal({ err: (error as Error).message }, error instanceof ObjectsFileError ? 'objects file rejected' : 'cannot start the objects source');
      process.exitCode = 1;
      return;
    }
    setReady();
  } else {
    let source: KubernetesSource;
    try {
      // Loaded only when used: @kubernetes/client-node costs seconds of startup and tens of MiB.
      const { KubernetesSource } = await import('./sources/kubernetes/kubernetes-source.ts');
      source = new KubernetesSource(settings, view, log, metrics);
    } catch (error) {
      log.fatal({ err: (error as Error).message }, 'cannot read Kubernetes credentials');
      process.exitCode = 1;
      return;
    }
    // Until every kind has listed once, answers would be wrong: queries get SERVFAIL, /ready 503.
    source.onReady(setReady);
    source.start();
    stopSource = () => source.stop();
  }

  const servers: Server[] = [];
  try {
    let bound: BoundListen[];
    if (workers) {
      metrics.serving = () => workers.stats();
      metrics.beforeScrape = () => workers.collect();
      bound = await workers.start();
    } else {
      bound = await local!.listen(listenAddresses(settings), false);
    }
    const ops = parseListenAddress(settings.ops.listen);
    const debug = parseListenAddress(settings.ops.debugListen);
    const debugRoutes = [debugBalanceRoute(view, () => current)];
    const debugShared = sameAddress(ops, debug);
    servers.push(await listenHttp(ops, [...opsRoutes({ ready: () => state.ready && !state.draining }, metrics, log), ...(debugShared ? debugRoutes : [])], log));
    // Debug routes are an aid: an address already taken costs them, never the cluster's DNS.
    const debugServer = debugShared ? null : await listenHttp(debug, debugRoutes, log).catch((error: Error) => error);
    if (debugServer && !(debugServer instanceof Error)) servers.push(debugServer);
    // Logged once every listener is up: "serving" means DNS, probes and metrics all answer.
    for (const { udp } of bound) log.info({ listen: formatListenAddress(udp), zones: settings.zones, workers: settings.workers }, 'serving DNS over UDP and TCP');
    log.info({ listen: formatListenAddress(ops) }, debugShared ? 'serving /health, /ready, /metrics and /debug/balance over HTTP' : 'serving /health, /ready and /metrics over HTTP');
    if (debugServer instanceof Error) log.error({ listen: formatListenAddress(debug), err: debugServer.message }, 'cannot serve /debug/balance; serving on without it');
    else if (debugServer) log.info({ listen: formatListenAddress(debug) }, 'serving /debug/balance over HTTP');
  } catch (error) {
    log.fatal({ err: (error as Error).message }, 'cannot listen');
    process.exit(1);
  }

  const stop = (signal: string, drainSeconds: number): void => {
    if (state.draining) return;
    state.draining = true;
    log.info({ signal, drainSeconds }, drainSeconds > 0 ? 'not ready any more; answering until the drain time is over' : 'stopping');
    setTimeout(() => {
      stopSource();
      settingsWatch?.close();
      local?.close();
      for (const server of servers) server.close();
      void (workers?.stop() ?? Promise.resolve()).then(() => {
        log.info('stopped');
        log.flush();
        setTimeout(() => process.exit(0), 50).unref();
      });
    }, drainSeconds * 1000);
  };
  process.on('SIGTERM', () => stop('SIGTERM', current.shutdown.drainSeconds));
  process.on('SIGINT', () => stop('SIGINT', 0));
}

await main(process.argv.slice(2));
