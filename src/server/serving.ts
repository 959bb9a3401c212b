/**
 * One serving thread: the handler built from the settings (rebuilt on a reload), its UDP and
 * TCP sockets, and its numbers. The main thread runs one over the cluster view: it always serves
 * its share of the port, and with `workers` above 1 it also answers what the serving workers
 * relay to it. Each worker runs one over a relay (`ServingThread.relaying`): no view and no
 * forwarder, only the routes and placements the main thread's answers taught it.
 */
import type { Server } from 'node:net';
import { getHeapStatistics } from 'node:v8';
import type { Logger } from 'pino';
import type { Settings } from '../settings/schema.ts';
import type { ClusterView, ViewChange } from '../view/cluster-view.ts';
import type { Service } from '../view/types.ts';
import { type ForwardStats, Forwarder } from '../forward/forwarder.ts';
import { ZoneRouter } from '../resolve/router.ts';
import { rcodeName } from '../wire/constants.ts';
import { questionKeySeed } from '../wire/query.ts';
import type { BucketCounts } from '../util/histogram.ts';
import { type Keyed, QueryStats, type QueryCounts } from './query-stats.ts';
import { HostsAnswers } from '../resolve/hosts.ts';
import { parseHostsText } from '../settings/hosts-file.ts';
import { readFileSync } from 'node:fs';
import { Autopath } from '../resolve/autopath.ts';
import { type BatchAnswering, type HandlerState, type Relay, type RelayReply, type Transport, QueryHandler } from './handler.ts';
import { type ListenAddress, parseListenAddress } from './listen-address.ts';
import { ownAddresses } from './own-addresses.ts';
import { type UdpListener, type UdpSendErrors, listenUdp, noUdpSendErrors } from './udp.ts';
import { type NativeAnswering, type UdpIo, batchAddon, listenUdpBatch } from './udp-batch.ts';
import { type TcpCloses, listenTcp, noTcpCloses, tcpAccounting } from './tcp.ts';
import { RampRefresh } from './ramp-refresh.ts';
import { SharedAnswers, type SharedAnswersMemory, sharedAnswersMemory } from './shared-answers.ts';

/** Where one listen address is bound, with the ports the kernel gave (they differ when 0 was asked). */
export interface BoundListen {
  udp: ListenAddress;
  tcp: ListenAddress;
}

/** One serving thread's numbers, plain data so a worker can post them to the primary. */
export interface ServingStats {
  queries: QueryCounts;
  forward: ForwardStats & {
    cacheEntries: { positive: number; negative: number };
    /** `answers`: by rcode name, how long they took. */
    upstreams: Array<{ label: string; requests: number; errors: number; seconds: number; healthy: boolean; answers: Keyed<BucketCounts> }>;
  };
  rateLimited: { dropped: number; slipped: number };
  /** A serving worker's requests relayed to the main thread, by how they ended. */
  relays: RelayCounts;
  udpSendErrors: UdpSendErrors;
  tcp: { connections: number; closes: TcpCloses };
  heapUsedBytes: number;
}

/** How a worker's relayed requests ended: answered, refused at once (too many in flight), or given up on (no reply in time). */
export interface RelayCounts {
  answered: number;
  full: number;
  timedOut: number;
}

export function noRelays(): RelayCounts {
  return { answered: 0, full: 0, timedOut: 0 };
}

/** A worker's relay, with its counts for the metrics. */
export type CountedRelay = Relay & { readonly counts: RelayCounts };

/**
 * What the serving workers must drop when the main thread's handler drops it: the answers a
 * change of the view affects, a Service's answers at a slow-start step, and every client
 * placement when something placement reads changed (a Node, an endpoint, a pod).
 */
export type AnswerDrop = { kind: 'change'; change: ViewChange } | { kind: 'refresh'; namespace: string; service: string } | { kind: 'placements' };

const NO_FORWARD_STATS: ServingStats['forward'] = { cacheHits: 0, cacheDenialHits: 0, cacheMisses: 0, staleServed: 0, overloaded: 0, allDown: 0, cacheEntries: { positive: 0, negative: 0 }, upstreams: [] };

/**
 * What one version of the settings builds, swapped whole on a reload so that a query never sees
 * a handler of one version with a forwarder of another.
 */
interface HandlerBuild {
  settings: Settings;
  /** Null in a serving worker: the main thread forwards. */
  forwarder: Forwarder | null;
  handler: QueryHandler;
}

/**
 * Forwarding state (cache, in-flight queries, upstream health) survives a reload that keeps these;
 * the zones too, since what an upstream answer may carry depends on them (forward/scrub.ts).
 */
function forwardingKey(settings: Settings): string {
  return JSON.stringify([settings.forward, settings.cache, settings.maxUdpSize, settings.zones, settings.reverse.zones]);
}

export class ServingThread {
  /** One of the two: the view (the main thread), or the relay to it (a worker). */
  private readonly view: ClusterView | null;
  private readonly relay: CountedRelay | null;
  private readonly log: Logger;
  private readonly state: HandlerState;
  /** Serving threads in the process: TCP's connection caps are shared among them. */
  private readonly threads: number;
  private readonly queries = new QueryStats();
  private readonly udpSendErrors = noUdpSendErrors();
  private tcp: ReturnType<typeof tcpAccounting> | null = null;
  private readonly sockets: UdpListener[] = [];
  private readonly servers: Server[] = [];
  private active: HandlerBuild;
  /** ExternalName targets already logged as unusable, so a query costs no log line. */
  private readonly reportedTargets = new Set<string>();
  /** Drops a Service's answers when its slow start moves a step (always the current handler's). */
  private readonly ramps = new RampRefresh((namespace, service) => this.drop({ kind: 'refresh', namespace, service }));
  private readonly dropListeners: Array<(drop: AnswerDrop) => void> = [];
  /** The view's placementGeneration when its last change was dropped. */
  private placementGeneration: number;
  /** Fixed answers shared by all serving threads (shared-answers.ts): written here on the main thread, read by workers. */
  private readonly sharedMemory: SharedAnswersMemory | null;
  private readonly shared: SharedAnswers | null;

  /**
   * What the listeners call: a fixed object that passes each query to the handler active now, so
   * a reload swaps the handler without touching the sockets.
   */
  readonly currentHandler: BatchAnswering = {
    handle: (request, transport, client) => this.active.handler.handle(request, transport, client),
    countNative: (zoneIndex, family, qtype, requestSize, rcode, responseSize, seconds) => this.active.handler.countNative(zoneIndex, family, qtype, requestSize, rcode, responseSize, seconds),
  };
  /**
   * What the addon's listeners read before answering from the shared table themselves
   * (NativeAnswering): [0] 1 while the active handler lets them, [1] the UDP size it advertises.
   */
  private readonly nativeControl = new Int32Array(2);

  /** Throws when the settings cannot be served (an upstream that is not an address). */
  constructor(source: ClusterView | CountedRelay, settings: Settings, log: Logger, state: HandlerState, threads = 1, shared: SharedAnswersMemory | null = null) {
    const relaying = 'relay' in source;
    this.view = relaying ? null : source;
    this.relay = relaying ? source : null;
    // The main thread makes the table its handlers write; a worker opens the one it was given.
    this.sharedMemory = relaying ? shared : settings.answerCacheSize > 0 ? sharedAnswersMemory(settings.answerCacheSize) : null;
    this.shared = this.sharedMemory !== null ? new SharedAnswers(this.sharedMemory) : null;
    this.log = log;
    this.state = state;
    this.threads = threads;
    this.placementGeneration = this.view?.placementGeneration ?? 0;
    this.active = this.buildHandler(settings, null);
    this.steerNative();
    this.view?.onChange((change) => {
      this.drop({ kind: 'change', change });
      const generation = (this.view as ClusterView).placementGeneration;
      if (generation === this.placementGeneration) return;
      this.placementGeneration = generation;
      this.drop({ kind: 'placements' });
    });
  }

  /** A serving worker's: answers from what `relay` brings back from the main thread. */
  static relaying(relay: CountedRelay, settings: Settings, log: Logger, state: HandlerState, threads: number, shared: SharedAnswersMemory | null): ServingThread {
    return new ServingThread(relay, settings, log, state, threads, shared);
  }

  /** The fixed answers' table the main thread's handlers write, for the workers to read (null: answers are not cached). */
  get sharedAnswers(): SharedAnswersMemory | null {
    return this.sharedMemory;
  }

  /** Drops what the handler holds that `drop` names; the main thread tells its listeners too (the serving workers, which drop the same). */
  drop(drop: AnswerDrop): void {
    const { handler } = this.active;
    if (drop.kind === 'change') handler.invalidate(drop.change);
    else if (drop.kind === 'refresh') handler.refreshService(drop.namespace, drop.service);
    else handler.forgetPlacements();
    for (const listener of this.dropListeners) listener(drop);
  }

  /** Every drop, as it is made: synchronously, in the turn that made it. */
  onDrop(listener: (drop: AnswerDrop) => void): void {
    this.dropListeners.push(listener);
  }

  /** The main thread's: a request a serving worker relayed, answered whole (see QueryHandler.answerRelayed). */
  answerRelayed(request: Buffer, transport: Transport, client: string): RelayReply | Promise<RelayReply> {
    return this.active.handler.answerRelayed(request, transport, client);
  }

  /** Swaps in handlers built from new settings; the sockets stay. */
  reload(settings: Settings): void {
    this.active = this.buildHandler(settings, this.active);
    this.steerNative();
  }

  /** Tells the addon's listeners what the active handler allows them. */
  private steerNative(): void {
    this.nativeControl[0] = this.active.handler.answersNatively ? 1 : 0;
    this.nativeControl[1] = this.active.settings.maxUdpSize;
  }

  private buildHandler(settings: Settings, previous: HandlerBuild | null): HandlerBuild {
    if (this.relay !== null) return { settings, forwarder: null, handler: new QueryHandler({ relay: this.relay, settings, state: this.state, log: this.log, queryStats: this.queries, shared: this.shared }) };
    const view = this.view as ClusterView;
    const serverIps = ownAddresses(settings.listen.map(parseListenAddress));
    const router = new ZoneRouter(
      {
        view,
        settings,
        serverAddresses: () => serverIps,
        unusableTarget: (service, reason) => this.reportUnusableTarget(service, reason),
        refreshAt: (namespace, service, atMs) => this.ramps.schedule(namespace, service, atMs),
      },
      this.hosts(settings),
    );
    const forwarder = previous?.forwarder && forwardingKey(previous.settings) === forwardingKey(settings) ? previous.forwarder : new Forwarder(settings, this.log);
    const autopath = settings.autopath ? new Autopath(view, router, forwarder, settings.ttl) : null;
    return { settings, forwarder, handler: new QueryHandler({ router, settings, state: this.state, log: this.log, forwarder, queryStats: this.queries, autopath, view, shared: this.shared }) };
  }

  /** The hosts entries and files, read again with every settings version; null when there are none. */
  private hosts(settings: Settings): HostsAnswers | null {
    const { entries, files, ttl, reverse } = settings.hosts;
    if (entries.length === 0 && files.length === 0) return null;
    const parsed = parseHostsText(entries.join('\n'));
    for (const file of files) {
      try {
        parsed.push(...parseHostsText(readFileSync(file, 'utf8')));
      } catch (error) {
        this.log.warn({ file, err: (error as Error).message }, 'hosts file unreadable; serving without it');
      }
    }
    return new HostsAnswers(parsed, ttl, reverse);
  }

  private reportUnusableTarget(service: Service, reason: string): void {
    const key = `${service.namespace}/${service.name} ${service.externalName}`;
    if (this.reportedTargets.has(key)) return;
    if (this.reportedTargets.size >= 10_000) this.reportedTargets.clear();
    this.reportedTargets.add(key);
    this.log.warn({ service: `${service.namespace}/${service.name}`, externalName: service.externalName, reason }, 'ExternalName target is not a usable DNS name: its name answers NODATA');
  }

  /**
   * Binds UDP and TCP on each address. With `reusePort`, every serving thread binds its own
   * sockets to the same ports and the kernel spreads datagrams and connections among them.
   * `io`: how UDP datagrams move (chosen once for the process, udp-batch.ts chooseUdpIo).
   */
  async listen(addresses: BoundListen[], reusePort: boolean, io: UdpIo): Promise<BoundListen[]> {
    const tcp = this.active.settings.tcp;
    // Each thread accepts the connections the kernel gives it (spread by address and port), and
    // counts them against its share of the caps.
    const limits = { ...tcp, maxConnections: Math.ceil(tcp.maxConnections / this.threads), maxConnectionsPerClient: Math.ceil(tcp.maxConnectionsPerClient / this.threads) };
    const accounting = (this.tcp ??= tcpAccounting(limits));
    const bound: BoundListen[] = [];
    const addon = io === 'batch' ? batchAddon() : null;
    for (const address of addresses) {
      const socket =
        addon !== null
          ? listenUdpBatch(addon, address.udp, this.currentHandler, this.log, reusePort, this.udpSendErrors, this.nativeAnswering())
          : await listenUdp(address.udp, this.currentHandler, this.log, reusePort, this.udpSendErrors);
      this.sockets.push(socket);
      const server = await listenTcp(address.tcp, this.currentHandler, this.log, limits, reusePort, accounting);
      this.servers.push(server);
      bound.push({ udp: { ...address.udp, port: socket.port }, tcp: { ...address.tcp, port: (server.address() as { port: number }).port } });
    }
    return bound;
  }

  /** What the addon needs to answer from the shared table itself; null without one. */
  private nativeAnswering(): NativeAnswering | null {
    return this.shared === null ? null : { table: this.shared.views, control: this.nativeControl, seed: questionKeySeed() };
  }

  stats(): ServingStats {
    const { forwarder, handler } = this.active;
    return {
      queries: this.queries.snapshot(),
      forward: forwarder === null ? NO_FORWARD_STATS : {
        ...forwarder.stats,
        cacheEntries: forwarder.cacheSize,
        upstreams: forwarder.upstreams.map((u) => ({
          label: u.label,
          requests: u.requests,
          errors: u.errors,
          seconds: u.seconds,
          healthy: u.downUntil <= Date.now(),
          answers: [...u.answers].map(([rcode, buckets]) => [rcodeName(rcode), buckets.snapshot()]),
        })),
      },
      rateLimited: handler.rateLimited,
      relays: { ...(this.relay?.counts ?? noRelays()) },
      udpSendErrors: { ...this.udpSendErrors },
      tcp: { connections: this.tcp?.slots.size ?? 0, closes: { ...(this.tcp?.closes ?? noTcpCloses()) } },
      heapUsedBytes: getHeapStatistics().used_heap_size,
    };
  }

  close(): void {
    this.ramps.close();
    for (const socket of this.sockets) socket.close();
    for (const server of this.servers) server.close();
  }
}

/** The listen addresses as settings give them, before binding. */
export function listenAddresses(settings: Settings): BoundListen[] {
  return settings.listen.map(parseListenAddress).map((address) => ({ udp: address, tcp: address }));
}
