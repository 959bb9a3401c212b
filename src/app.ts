/**
 * The composition root: from validated settings, builds the cluster view, its source (objects file
 * or Kubernetes API), the serving thread or the worker pool, the ops and debug listeners and the
 * settings watch, and knows how to drain and stop them. It decides no exit code and handles no
 * signal: `cli.ts` does, from what this returns or throws.
 */
import type { Server } from 'node:net';
import type { Logger } from 'pino';
import { createLogger } from './log.ts';
import type { FlagOverrides, SettingsText } from './settings/load.ts';
import { applicableNow, watchSettings } from './settings/reload.ts';
import type { Settings } from './settings/schema.ts';
import { ClusterView } from './view/cluster-view.ts';
import { ObjectsFileError, watchObjectsFile } from './sources/objects-file.ts';
import type { KubernetesSource } from './sources/kubernetes/kubernetes-source.ts';
import { Metrics } from './ops/metrics.ts';
import { listenHttp, opsRoutes } from './ops/http-server.ts';
import { auditPorts } from './balance/port-audit.ts';
import { auditSlowStart } from './balance/slow-start-audit.ts';
import { debugBalanceRoute } from './ops/debug-routes.ts';
import { type ListenAddress, formatListenAddress, parseListenAddress } from './server/listen-address.ts';
import { type BoundListen, ServingThread, listenAddresses } from './server/serving.ts';
import { WorkerPool } from './workers/pool.ts';

export interface AppOptions {
  settings: Settings;
  /** The settings file, watched for changes; absent: flags and defaults only, nothing to reload. */
  config?: { path: string; file: SettingsText };
  /** The flags, laid again over every new version of the settings file. */
  flags: FlagOverrides;
  /**
   * The process cannot go on serving (workers keep dying): already logged and flushed. The caller
   * ends the process, so that it is restarted whole.
   */
  onFatal: () => void;
}

/**
 * Starting failed, and the reason is logged already. `exitCode` is the process's; `mustExit`: some
 * listener or thread may already run, so the process would not end by itself.
 */
export class StartFailed extends Error {
  readonly exitCode: number;
  readonly mustExit: boolean;

  constructor(exitCode: number, mustExit: boolean) {
    super(`lbdns could not start (exit code ${exitCode})`);
    this.exitCode = exitCode;
    this.mustExit = mustExit;
  }
}

function sameAddress(a: ListenAddress, b: ListenAddress): boolean {
  return a.host === b.host && a.port === b.port;
}

/** lbdns assembled: `new App` builds every part, `start` serves. */
export class App {
  readonly log: Logger;
  private readonly metrics = new Metrics();
  private readonly view: ClusterView;
  private readonly state = { ready: false, draining: false };
  /** Settings as last accepted: read by the debug route and the drain, swapped on a reload. */
  private current: Settings;
  /** One worker: the main thread serves. More: each worker thread serves a replica of this view. */
  private readonly local: ServingThread | null;
  private readonly workers: WorkerPool | null;
  private readonly settingsWatch: ReturnType<typeof watchSettings> | null;
  private stopSource: () => void = () => {};
  private readonly servers: Server[] = [];
  private readonly options: AppOptions;

  /** Assembles lbdns; throws StartFailed (already logged) when these settings cannot be served. */
  constructor(options: AppOptions) {
    this.options = options;
    const { settings } = options;
    const log = createLogger(settings.logLevel);
    this.log = log;
    this.current = settings;
    const metrics = this.metrics;
    // With workers, this view only feeds theirs: they answer the queries, and keep the IP index.
    const view = new ClusterView({ requireNamespaceObjects: settings.kubernetes.namespaceLabels !== undefined, indexByIp: settings.workers === 1 });
    this.view = view;
    metrics.viewCounts = () => view.counts();

    let local: ServingThread | null = null;
    if (settings.workers === 1) {
      try {
        local = new ServingThread(view, settings, log, this.state);
      } catch (error) {
        log.fatal({ err: (error as Error).message }, 'cannot serve these settings');
        throw new StartFailed(2, false);
      }
      const thread = local;
      metrics.serving = () => [thread.stats()];
    }
    this.local = local;
    view.onUpdate(auditPorts(view, () => this.current, log));
    view.onUpdate(auditSlowStart(view, log));

    this.workers = local
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
            options.onFatal();
          },
        });

    // Watched before anything is served, starting from the version read by the caller: a ConfigMap
    // update at any moment after that read is applied, none is taken for the one already served.
    metrics.configLastReloadSuccessful.set(1);
    const { config } = options;
    this.settingsWatch = config
      ? watchSettings(
          config.path,
          config.file.digest,
          options.flags,
          log,
          (published) => this.apply(published),
          (ok) => {
            metrics.configReloads.inc({ result: ok ? 'success' : 'failure' });
            metrics.configLastReloadSuccessful.set(ok ? 1 : 0);
          },
        )
      : null;
  }

  /** The settings in force now. */
  settings(): Settings {
    return this.current;
  }

  /** Reads the settings file again now (SIGHUP); no settings file, nothing to do. */
  reloadSettings(reason: string): void {
    this.settingsWatch?.reload(reason);
  }

  private apply(published: Settings): void {
    const { settings: next, pendingRestart } = applicableNow(this.current, published);
    if (pendingRestart.length > 0) this.log.warn({ keys: pendingRestart }, 'these settings take effect only after a restart');
    this.local?.reload(next);
    this.workers?.reload(next);
    this.log.level = next.logLevel;
    this.current = next;
  }

  private setReady(): void {
    // The first full list is in: what it holds is warm; endpoints ready from now on slow-start.
    this.view.startReadyClock();
    this.state.ready = true;
    this.workers?.setReady();
  }

  /** Starts the source and every listener; throws StartFailed (already logged) when one cannot. */
  async start(): Promise<void> {
    await this.startSource();
    await this.listen();
  }

  private async startSource(): Promise<void> {
    const { settings } = this.options;
    const { log, view, metrics } = this;
    const sourceKind = settings.source ?? (settings.objects ? 'file' : 'kubernetes');
    if (sourceKind === 'file') {
      if (!settings.objects) {
        log.fatal('source: file needs an objects file (--objects FILE or the objects setting)');
        throw new StartFailed(2, false);
      }
      try {
        this.stopSource = watchObjectsFile(settings.objects, view, log).close;
      } catch (error) {
        log.fatal({ err: (error as Error).message }, error instanceof ObjectsFileError ? 'objects file rejected' : 'cannot start the objects source');
        throw new StartFailed(1, false);
      }
      this.setReady();
      return;
    }
    let source: KubernetesSource;
    try {
      // Loaded only when used: @kubernetes/client-node costs seconds of startup and tens of MiB.
      const { KubernetesSource } = await import('./sources/kubernetes/kubernetes-source.ts');
      source = new KubernetesSource(settings, view, log, metrics);
    } catch (error) {
      log.fatal({ err: (error as Error).message }, 'cannot read Kubernetes credentials');
      throw new StartFailed(1, false);
    }
    // Until every kind has listed once, answers would be wrong: queries get SERVFAIL, /ready 503.
    source.onReady(() => this.setReady());
    source.start();
    this.stopSource = () => source.stop();
  }

  private async listen(): Promise<void> {
    const { settings } = this.options;
    const { log, view, metrics, workers, state, servers } = this;
    try {
      let bound: BoundListen[];
      if (workers) {
        metrics.serving = () => workers.stats();
        metrics.beforeScrape = () => workers.collect();
        bound = await workers.start();
      } else {
        bound = await this.local!.listen(listenAddresses(settings), false);
      }
      const ops = parseListenAddress(settings.ops.listen);
      const debug = parseListenAddress(settings.ops.debugListen);
      const debugRoutes = [debugBalanceRoute(view, () => this.current)];
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
      throw new StartFailed(1, true);
    }
  }

  /**
   * Reports not ready at once, answers on for drainSeconds (so that endpoints drop this pod first),
   * then closes everything. Resolves once stopped and logged; false if a drain was under way already.
   */
  drain(signal: string, drainSeconds: number): Promise<boolean> {
    if (this.state.draining) return Promise.resolve(false);
    this.state.draining = true;
    const { log } = this;
    log.info({ signal, drainSeconds }, drainSeconds > 0 ? 'not ready any more; answering until the drain time is over' : 'stopping');
    return new Promise((resolve) => {
      setTimeout(() => {
        this.stopSource();
        this.settingsWatch?.close();
        this.local?.close();
        for (const server of this.servers) server.close();
        void (this.workers?.stop() ?? Promise.resolve()).then(() => {
          log.info('stopped');
          log.flush();
          resolve(true);
        });
      }, drainSeconds * 1000);
    });
  }
}
