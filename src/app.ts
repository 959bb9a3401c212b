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
import { applicableNow, logSettingsRemarks, watchSettings } from './settings/reload.ts';
import type { Settings } from './settings/schema.ts';
import { ClusterView, recordsIn } from './view/cluster-view.ts';
import { HeapSettler, fullCollection } from './util/heap-settle.ts';
import { freedMemoryRelease } from './util/native-addon.ts';
import { ObjectsFileError, watchObjectsFile } from './sources/objects-file.ts';
import type { KubernetesSource } from './sources/kubernetes/kubernetes-source.ts';
import { Metrics } from './ops/metrics.ts';
import { listenHttp, opsRoutes } from './ops/http-server.ts';
import { type ServiceAudit, auditServices } from './balance/service-audit.ts';
import { auditSlowStart } from './balance/slow-start-audit.ts';
import { debugBalanceRoute } from './ops/debug-routes.ts';
import { type ListenAddress, formatListenAddress, parseListenAddress } from './server/listen-address.ts';
import { type BoundListen, ServingThread, listenAddresses } from './server/serving.ts';
import { WorkerPool } from './workers/pool.ts';
import { ensureAddressesFree } from './server/port-probe.ts';
import { type UdpIo, availableUdpIo } from './server/udp-batch.ts';
import { usableCpus } from './util/usable-cpus.ts';
import { type NodeZoneLookup, lookUpNodeZone } from './sources/node-zone.ts';
import { type NodeLocalAddresses, setUpNodeLocalAddresses } from './server/node-local-address.ts';

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

/**
 * How many threads serve DNS: the `workers` setting, or when unset the CPUs this process may use
 * (affinity and cgroup quota). Resolved here, once at start, not while validating settings.
 */
export function servingThreadCount(settings: Settings): number {
  return settings.workers ?? usableCpus();
}

function sameAddress(a: ListenAddress, b: ListenAddress): boolean {
  return a.host === b.host && a.port === b.port;
}

/** lbdns assembled: `new App` builds every part, `start` serves. */
/**
 * The UDP I/O for every serving thread, said in one log line: the addon's batches unless the
 * settings ask for dgram or the addon cannot load (auto then serves through dgram, batch stops).
 */
function chooseUdpIo(setting: Settings['io'], log: Logger): UdpIo {
  const { io, unavailable } = availableUdpIo(setting);
  if (io === 'batch') log.info({ io }, 'UDP through batched I/O (recvmmsg/sendmmsg)');
  else if (unavailable === null) log.info({ io }, 'UDP through node:dgram (io: dgram)');
  else if (setting === 'auto') log.warn({ io, reason: unavailable }, 'UDP through node:dgram: the batched I/O addon cannot be loaded (npm run build:addon builds it; needs python3, make and g++)');
  else {
    log.fatal({ io: setting, reason: unavailable }, 'io: batch, but the batched UDP I/O addon cannot be loaded (npm run build:addon builds it; needs python3, make and g++)');
    throw new StartFailed(1, false);
  }
  return io;
}

export class App {
  readonly log: Logger;
  private readonly metrics: Metrics;
  private workerRestarts = 0;
  private readonly view: ClusterView;
  private readonly state = { ready: false, draining: false };
  /** Settings as last accepted: read by the debug route and the drain, swapped on a reload. */
  private current: Settings;
  /**
   * The main thread's serving thread (thread 0), over the view and the one forwarder: it listens
   * and serves its share, and with more threads it also answers what the workers relay.
   */
  private readonly serving: ServingThread;
  private readonly workers: WorkerPool | null;
  /** Serving threads: `workers`, or the usable CPUs when it is unset. */
  private readonly threadCount: number;
  private readonly udpIo: UdpIo;
  private readonly settingsWatch: ReturnType<typeof watchSettings> | null;
  private stopSource: () => void = () => {};
  private heapSettler: HeapSettler | null = null;
  private readonly servers: Server[] = [];
  private readonly options: AppOptions;
  /** Node-local mode: the node's zone once known (its Node object), and the addresses lbdns set up. */
  private nodeZone: string | null = null;
  private readonly nodeZoneLookup: NodeZoneLookup;
  private nodeAddresses: NodeLocalAddresses | null = null;
  private readonly serviceAudit: ServiceAudit;

  /** Assembles lbdns; throws StartFailed (already logged) when these settings cannot be served. */
  constructor(options: AppOptions) {
    this.options = options;
    const log = createLogger(options.settings.logLevel);
    this.log = log;
    // Node-local mode: clients are this node's pods, in its zone (from its Node object) unless
    // balance.nodeZone says otherwise.
    this.nodeZoneLookup = lookUpNodeZone(options.settings, log, (zone) => {
      this.nodeZone = zone;
      this.current = this.withNodeZone(this.current);
      this.serving.reload(this.current);
      this.workers?.reload(this.current);
    });
    this.nodeZone = this.nodeZoneLookup.zone;
    const settings = this.withNodeZone(options.settings);
    this.current = settings;
    const threadCount = servingThreadCount(settings);
    this.threadCount = threadCount;
    // The one view, workers or not: workers hold none, they relay to the serving thread over it.
    const view = new ClusterView({ requireNamespaceObjects: settings.kubernetes.namespaceLabels !== undefined });
    this.view = view;

    this.udpIo = chooseUdpIo(settings.io, log);

    let serving: ServingThread;
    try {
      // With workers, its log lines say which thread served, as theirs do.
      serving = new ServingThread(view, settings, threadCount === 1 ? log : log.child({ worker: 0 }), this.state, threadCount);
    } catch (error) {
      log.fatal({ err: (error as Error).message }, 'cannot serve these settings');
      throw new StartFailed(2, false);
    }
    this.serving = serving;
    const serviceAudit = auditServices(view, () => this.current, log);
    this.serviceAudit = serviceAudit;
    view.onUpdate(serviceAudit.onUpdate);
    view.onChange(serviceAudit.onChange);
    view.onUpdate(auditSlowStart(view, log));
    this.heapSettler = settleHeapAfterBulkChanges(view, log);

    this.workers =
      threadCount === 1
        ? null
        : new WorkerPool({
            threads: threadCount,
            settings,
            primary: serving,
            udpIo: this.udpIo,
            log,
            onRestart: () => this.workerRestarts++,
            onFailure: (index, reason) => {
              log.fatal({ worker: index, reason }, 'serving workers keep dying; exiting so that the process is restarted whole');
              log.flush();
              options.onFatal();
            },
          });

    const { workers } = this;
    const metrics = new Metrics({
      settings: () => this.current,
      viewCounts: () => view.counts(),
      serving: workers ? () => [serving.stats(), ...workers.stats()] : () => [serving.stats()],
      beforeScrape: workers ? () => workers.collect() : undefined,
      workerRestarts: () => this.workerRestarts,
      portMismatch: serviceAudit.counts,
      udpIo: this.udpIo,
    });
    this.metrics = metrics;

    // Watched before anything is served, starting from the version read by the caller: a ConfigMap
    // update at any moment after that read is applied, none is taken for the one already served.
    const { config } = options;
    if (config) logSettingsRemarks(log, config.path, config.file);
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

  private withNodeZone(settings: Settings): Settings {
    const nodeZone = this.nodeZone;
    return nodeZone !== null && settings.balance.nodeZone === undefined ? { ...settings, balance: { ...settings.balance, nodeZone } } : settings;
  }

  private apply(published: Settings): void {
    const { settings: next, pendingRestart } = applicableNow(this.current, this.withNodeZone(published));
    if (pendingRestart.length > 0) this.log.warn({ keys: pendingRestart }, 'these settings take effect only after a restart');
    this.serving.reload(next);
    this.workers?.reload(next);
    this.log.level = next.logLevel;
    this.current = next;
    // Endpoint mode, policies or weights may have changed: say again what no longer fits.
    this.serviceAudit.recheck();
  }

  private setReady(): void {
    // The first full list is in: what it holds is warm; endpoints ready from now on slow-start.
    this.view.startReadyClock();
    this.state.ready = true;
    this.workers?.setReady();
  }

  /** Starts the source and every listener; throws StartFailed (already logged) when one cannot. */
  async start(): Promise<void> {
    // The worker threads load their code while the source is read: they need nothing of the view.
    this.workers?.prepare();
    try {
      await this.startSource();
    } catch (error) {
      // Their threads would keep the process alive: the caller expects it to end by itself.
      await this.workers?.stop();
      throw error;
    }
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
      // The node-local addresses must exist before lbdns can bind them.
      if (settings.nodeLocal?.setupInterface) this.nodeAddresses = await setUpNodeLocalAddresses(settings.nodeLocal, log);
      const listen = listenAddresses(settings);
      // Threads share the ports through SO_REUSEPORT, which any socket of this user asking for it
      // could join too: first make sure none holds them.
      if (workers) await ensureAddressesFree(listen);
      const bound = await this.serving.listen(listen, workers !== null, this.udpIo);
      await workers?.start(bound);
      const ops = parseListenAddress(settings.ops.listen);
      const debug = parseListenAddress(settings.ops.debugListen);
      const debugRoutes = [debugBalanceRoute(view, () => this.current)];
      const debugShared = sameAddress(ops, debug);
      servers.push(await listenHttp(ops, [...opsRoutes({ ready: () => state.ready && !state.draining }, metrics, log), ...(debugShared ? debugRoutes : [])], log));
      // Debug routes are an aid: an address already taken costs them, never the cluster's DNS.
      const debugServer = debugShared ? null : await listenHttp(debug, debugRoutes, log).catch((error: Error) => error);
      if (debugServer && !(debugServer instanceof Error)) servers.push(debugServer);
      // A Corefile's health, ready and prometheus ports each serve the ops routes: the coredns Deployment's probes stay.
      for (const also of settings.ops.alsoListen ?? []) {
        servers.push(await listenHttp(parseListenAddress(also), opsRoutes({ ready: () => state.ready && !state.draining }, metrics, log), log));
        log.info({ listen: also }, 'serving /health, /ready and /metrics over HTTP');
      }
      // Logged once every listener is up: "serving" means DNS, probes and metrics all answer.
      for (const { udp } of bound) log.info({ listen: formatListenAddress(udp), zones: settings.zones, workers: this.threadCount }, 'serving DNS over UDP and TCP');
      log.info({ listen: formatListenAddress(ops) }, debugShared ? 'serving /health, /ready, /metrics and /debug/balance over HTTP' : 'serving /health, /ready and /metrics over HTTP');
      if (debugServer instanceof Error) log.error({ listen: formatListenAddress(debug), err: debugServer.message }, 'cannot serve /debug/balance; serving on without it');
      else if (debugServer) log.info({ listen: formatListenAddress(debug) }, 'serving /debug/balance over HTTP');
    } catch (error) {
      log.fatal({ err: (error as Error).message }, 'cannot listen');
      await this.releaseNodeAddresses();
      throw new StartFailed(1, true);
    }
  }

  /** Removes the node-local addresses lbdns set up, unless nodeLocal.removeOnExit keeps them. */
  private async releaseNodeAddresses(): Promise<void> {
    if (!this.nodeAddresses) return;
    if (this.options.settings.nodeLocal?.removeOnExit === false) this.log.info({ addresses: this.nodeAddresses.addresses, interface: this.nodeAddresses.device }, 'node-local addresses kept (nodeLocal.removeOnExit: false)');
    else await this.nodeAddresses.remove();
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
        this.heapSettler?.stop();
        this.nodeZoneLookup.stop();
        this.settingsWatch?.close();
        this.serving.close();
        for (const server of this.servers) server.close();
        void (this.workers?.stop() ?? Promise.resolve()).then(async () => {
          // Once nothing listens on them: kubelet's second nameserver answers while they are gone.
          await this.releaseNodeAddresses();
          log.info('stopped');
          log.flush();
          resolve(true);
        });
      }, drainSeconds * 1000);
    });
  }
}

/**
 * The view's thread collects its garbage once a bulk change of at least 10,000 records (a
 * cluster's first list, a relist, a reload of a big objects file) has gone quiet for 2 s, or 30 s
 * after it began if changes keep coming, and at most once in 30 s, then gives what malloc holds
 * free back to the kernel: heap-settle.ts says why. Smaller changes leave it to V8.
 */
function settleHeapAfterBulkChanges(view: ClusterView, log: Logger): HeapSettler {
  const mib = (bytes: number) => Math.round(bytes / 1048576);
  const settler = new HeapSettler({
    threshold: 10_000,
    quietMs: 2000,
    maxDelayMs: 30_000,
    minIntervalMs: 30_000,
    collect: fullCollection(),
    // Without the addon freed memory is left to malloc, silently: choosing the UDP I/O said once why it did not load.
    releaseFreedMemory: freedMemoryRelease(),
    onSettled: ({ records, ms, heapUsedBefore, heapUsedAfter, rssBefore, rssAfterCollection, release }) =>
      log.info(
        {
          records,
          ms: Math.round(ms),
          heapUsedMiB: { before: mib(heapUsedBefore), after: mib(heapUsedAfter) },
          rssMiB: { before: mib(rssBefore), afterCollection: mib(rssAfterCollection), ...(release && { afterRelease: mib(release.rssAfter) }) },
          ...(release && { release: { ms: Math.round(release.ms * 10) / 10, released: release.released } }),
        },
        'collected the garbage of a bulk change of the cluster view',
      ),
  });
  view.onUpdate((update) => settler.note(recordsIn(update)));
  return settler;
}
