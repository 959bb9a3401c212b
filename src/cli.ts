/**
 * `lbdns`: reads settings and flags, builds the cluster view from its source, and serves DNS
 * over UDP and TCP until SIGTERM or SIGINT.
 */
import { parseArgs } from 'node:util';
import type { Socket } from 'node:dgram';
import type { Server } from 'node:net';
import { createLogger } from './log.ts';
import { type FlagOverrides, loadSettings } from './settings/load.ts';
import { keysNeedingRestart, watchSettings } from './settings/reload.ts';
import { SettingsError, type Settings } from './settings/schema.ts';
import { ClusterView } from './view/cluster-view.ts';
import { ObjectsFileError, watchObjectsFile } from './sources/objects-file.ts';
import type { KubernetesSource } from './sources/kubernetes/kubernetes-source.ts';
import { Metrics } from './ops/metrics.ts';
import { listenOps } from './ops/http-server.ts';
import { auditPorts } from './balance/port-audit.ts';
import { debugBalanceRoute } from './ops/debug-routes.ts';
import { Forwarder } from './forward/forwarder.ts';
import { Autopath } from './server/autopath.ts';
import { ZoneRouter } from './resolve/router.ts';
import { QueryHandler, type Transport } from './server/handler.ts';
import { formatListenAddress, parseListenAddress } from './server/listen-address.ts';
import { ownAddresses } from './server/own-addresses.ts';
import { listenUdp } from './server/udp.ts';
import { listenTcp } from './server/tcp.ts';

const USAGE = `Usage: lbdns [--config FILE] [--objects FILE | --kubeconfig FILE] [--listen HOST:PORT]... [--zone NAME]...
             [--ops-listen HOST:PORT] [--log-level LEVEL]

  --config FILE          YAML settings (see config/lbdns.yaml); flags override it
  --objects FILE         serve Kubernetes objects from a file (kubectl get -o yaml/json output, multi-document YAML)
  --kubeconfig FILE      watch the Kubernetes API with this kubeconfig (default: the pod's service
                         account in a pod, else $KUBECONFIG or ~/.kube/config)
  --listen HOST:PORT     address to serve DNS on over UDP and TCP (repeatable; default 0.0.0.0:53)
  --zone NAME            cluster zone to serve (repeatable; default cluster.local)
  --upstream ADDR[:PORT] where names outside the zones go (repeatable; default: /etc/resolv.conf's nameservers)
  --ops-listen HOST:PORT HTTP address for /health, /ready and /metrics (default 127.0.0.1:8080)
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
      listen: { type: 'string', multiple: true },
      zone: { type: 'string', multiple: true },
      upstream: { type: 'string', multiple: true },
      'log-level': { type: 'string' },
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
    listen: flags.listen,
    zone: flags.zone,
    upstream: flags.upstream,
    logLevel: flags['log-level'],
  };
}

export async function main(argv: string[]): Promise<void> {
  let flags;
  let settings: Settings;
  try {
    flags = readFlags(argv);
    if (flags.help) {
      process.stdout.write(USAGE);
      return;
    }
    settings = loadSettings(flags.config, settingsFlags(flags));
  } catch (error) {
    process.stderr.write(`lbdns: ${(error as Error).message}\n${error instanceof SettingsError ? '' : USAGE}`);
    process.exitCode = 2;
    return;
  }

  const log = createLogger(settings.logLevel);
  const metrics = new Metrics();
  const view = new ClusterView({ requireNamespaceObjects: settings.kubernetes.namespaceLabels !== undefined });
  const listen = settings.listen.map(parseListenAddress);
  const serverIps = ownAddresses(listen);
  const state = { ready: false, draining: false };
  metrics.viewCounts = () => view.counts();

  // Everything that reads settings is built from them; a reload builds it again and swaps it in.
  const buildServing = (current: Settings, previous: Serving | null): Serving => {
    const router = new ZoneRouter({ view, settings: current, serverAddresses: () => serverIps });
    const sameForwarding = previous && JSON.stringify([previous.settings.forward, previous.settings.cache, previous.settings.maxUdpSize]) === JSON.stringify([current.forward, current.cache, current.maxUdpSize]);
    const forwarder = sameForwarding ? previous.forwarder : new Forwarder(current, log);
    const autopath = current.autopath ? new Autopath(view, router, forwarder, current.ttl) : null;
    return { settings: current, forwarder, handler: new QueryHandler(router, current, state, log, forwarder, metrics.queries, autopath) };
  };
  let serving: Serving;
  try {
    serving = buildServing(settings, null);
  } catch (error) {
    log.fatal({ err: (error as Error).message }, 'bad upstream');
    process.exitCode = 2;
    return;
  }
  metrics.forwarding = () => serving.forwarder;
  metrics.rateLimited = () => serving.handler.rateLimited;
  const dispatch = { handle: (request: Buffer, transport: Transport, client: string) => serving.handler.handle(request, transport, client) };
  view.onChange((change) => serving.handler.invalidate(change));
  view.onChange(auditPorts(view, () => serving.settings, log));

  const sourceKind = settings.source ?? (settings.objects ? 'file' : 'kubernetes');
  let stopSource: () => void;
  if (sourceKind === 'file') {
    if (!settings.objects) {
      log.fatal('source: file needs an objects file (--objects FILE or the objects setting)');
      process.exitCode = 2;
      return;
    }
    try {
      stopSource = watchObjectsFile(settings.objects, log, (objects) => view.replaceAll(objects)).close;
    } catch (error) {
      log.fatal({ err: (error as Error).message }, error instanceof ObjectsFileError ? 'objects file rejected' : 'cannot start the objects source');
      process.exitCode = 1;
      return;
    }
    state.ready = true;
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
    source.onReady(() => {
      state.ready = true;
    });
    source.start();
    stopSource = () => source.stop();
  }

  const sockets: Socket[] = [];
  const servers: Server[] = [];
  try {
    for (const address of listen) {
      sockets.push(await listenUdp(address, dispatch, log));
      servers.push(await listenTcp(address, dispatch, log, settings.tcp));
      log.info({ listen: formatListenAddress(address), zones: settings.zones }, 'serving DNS over UDP and TCP');
    }
    const ops = parseListenAddress(settings.ops.listen);
    servers.push(await listenOps(ops, { ready: () => state.ready && !state.draining }, metrics, log, [debugBalanceRoute(view, () => serving.settings)]));
    log.info({ listen: formatListenAddress(ops) }, 'serving /health, /ready, /metrics and /debug/balance over HTTP');
  } catch (error) {
    log.fatal({ err: (error as Error).message }, 'cannot listen');
    process.exit(1);
  }

  const overrides = settingsFlags(flags);
  const settingsWatch = flags.config
    ? watchSettings(
        flags.config,
        overrides,
        log,
        (next) => {
          const restart = keysNeedingRestart(serving.settings, next);
          if (restart.length > 0) log.warn({ keys: restart }, 'these settings take effect only after a restart');
          log.level = next.logLevel;
          serving = buildServing(next, serving);
        },
        (ok) => {
          metrics.configReloads.inc({ result: ok ? 'success' : 'failure' });
          metrics.configLastReloadSuccessful.set(ok ? 1 : 0);
        },
      )
    : null;
  metrics.configLastReloadSuccessful.set(1);
  process.on('SIGHUP', () => settingsWatch?.reload('SIGHUP'));

  const stop = (signal: string, drainSeconds: number): void => {
    if (state.draining) return;
    state.draining = true;
    log.info({ signal, drainSeconds }, drainSeconds > 0 ? 'not ready any more; answering until the drain time is over' : 'stopping');
    setTimeout(() => {
      stopSource();
      settingsWatch?.close();
      for (const socket of sockets) socket.close();
      for (const server of servers) server.close();
      log.info('stopped');
      log.flush();
      setTimeout(() => process.exit(0), 50).unref();
    }, drainSeconds * 1000);
  };
  process.on('SIGTERM', () => stop('SIGTERM', serving.settings.shutdown.drainSeconds));
  process.on('SIGINT', () => stop('SIGINT', 0));
}

interface Serving {
  settings: Settings;
  forwarder: Forwarder;
  handler: QueryHandler;
}

await main(process.argv.slice(2));
