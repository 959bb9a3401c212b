/**
 * One query, top to bottom: parse → route → prepared answer (cached) → balance → encode.
 * Synchronous on purpose: a cache hit awaits nothing and allocates only the response.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { chooseShuffled } from '../balance/shuffle.ts';
import { type Choice, chooseRecords } from '../resolve/balanced-answers.ts';
import { type Client, type ClientPlacements, ClientClassifier, LearnedPlacements } from '../balance/client.ts';
import { CLASS_ANY, CLASS_CH, CLASS_IN, RCode, RRType, rcodeName, typeName } from '../wire/constants.ts';
import { type FixedAnswer, type ResponseHead, type ResponseOptions, balancedBudget, layoutAnswer, udpLimit, writeBareResponse, writeFixedResponse, writeResponse } from '../wire/message.ts';
import { type AnswerScope, type ExplanationLines, type PreparedAnswer, type Routed, type Router, GLOBAL_SCOPE, answerLayout, bareRcode, toFixedAnswer } from '../resolve/answer.ts';
import { keepBytes } from '../util/kept-bytes.ts';
import { type CommonQuery, type Query, parseQuery, readCommonQuery } from '../wire/query.ts';
import { type Cidr, cidrContains, clientAddressBytes, parseCidr } from '../net/cidr.ts';
import type { Settings } from '../settings/schema.ts';
import type { ClusterView, ViewChange } from '../view/cluster-view.ts';
import { AnswerCache } from './answer-cache.ts';
import type { SharedAnswers, SharedRef } from './shared-answers.ts';
import type { QueryStats } from './query-stats.ts';
import type { Autopath } from '../resolve/autopath.ts';
import { type RateDecision, ResponseRateLimiter } from './rate-limit.ts';
import type { UpstreamResponse } from '../forward/upstream-message.ts';
import { completeExternalName } from '../resolve/external-name.ts';
import { headerRcode } from '../wire/header.ts';
import { EdnsReplies } from './edns-reply.ts';
import { longestZoneOf } from '../wire/name.ts';
import { canonicalIp } from '../net/ip.ts';
import { chaosTxtRecords, clientLine, placement } from '../resolve/explain.ts';

export type Transport = 'udp' | 'tcp';

/** Whatever answers queries: the current handler, swapped on a settings reload. */
export type Answering = Pick<QueryHandler, 'handle'>;

/** What the addon's UDP listener calls: the handler, and the counting of the answers the addon made itself. */
export type BatchAnswering = Pick<QueryHandler, 'handle' | 'countNative'>;

/** What the handler learned about a query, for its metrics and the query log. */
interface QueryFacts {
  zone: string;
  qtype: number;
  qname: string;
  /** The route the answer came from (cached or made now); null until known, and for answers without one (errors, CHAOS). */
  route: CachedRoute | null;
}

/**
 * What a serving worker may keep from the primary's answer: the route to cache, and the client's
 * placement when the answer needs one. An answer every client gets alike comes as its bytes
 * alone (`fixed`, with `answer` its bare rcode): small to send and to keep, and cut from those
 * bytes when it does not fit a response.
 */
export interface LearnedRoute {
  answer: Routed;
  fixed: FixedAnswer | null;
  zone: string;
  qname: string;
  scope: AnswerScope;
  placement: Client | null;
}

/** The primary's answer to a request a worker relayed: the response, what the worker counts it as, and what it may keep. */
export interface RelayReply {
  response: Buffer | null;
  zone: string;
  qtype: number;
  qname: string;
  learned: LearnedRoute | null;
}

/**
 * In a serving worker, which holds no view and no forwarder: where a request goes that it cannot
 * answer from the routes and placements it holds (the primary, which answers it whole). Resolves
 * null when the request was not answered (too many in flight, or no reply in time).
 */
export interface Relay {
  relay(request: Buffer, transport: Transport, client: string): Promise<RelayReply | null>;
}

/** Answers names outside the served zones: synchronously from its cache, else later. */
export interface ForwardAnswerer {
  /** `client` counts against its own share of upstream queries in flight. */
  answer(request: Buffer, query: Query, limit: number, client: string): Buffer | Promise<Buffer>;
  lookupName(name: string, qtype: number, dnssecOk: boolean, client: string): Promise<UpstreamResponse | null>;
}

export interface HandlerState {
  /** False until the cluster view has its first complete data: queries get SERVFAIL. */
  ready: boolean;
}

/** What a handler answers with. The last three are absent where a test or bench needs none of them. */
export interface QueryHandlerOptions {
  /** Picks the prepared answer (or forwarding) for each question; absent only with `relay`. */
  router?: Router | null;
  /**
   * A serving worker's: every question it has no route for, and every answer it cannot finish
   * (forwarding, a placement it does not know), goes here; the routes and placements that come
   * back are kept. Absent: the handler answers everything itself (router, view, forwarder).
   */
  relay?: Relay | null;
  /** The settings this handler was built from; a reload builds a new handler. */
  settings: Settings;
  /** Shared with the serving thread, which sets it ready once the view is complete. */
  state: HandlerState;
  log: Logger;
  /** Absent: names outside the zones are REFUSED and ExternalName targets are not completed. */
  forwarder?: ForwardAnswerer | null;
  /** Where clients are placed from (Nodes, endpoints, pods); absent: only balance.clientZones and the node zone. */
  view?: ClusterView | null;
  /** Absent: queries are not counted. */
  queryStats?: QueryStats | null;
  /** Absent: autopath is off, an NXDOMAIN is final. */
  autopath?: Autopath | null;
  /**
   * The fixed answers all serving threads share: a handler with a router keeps its fixed answers
   * there (and teaches workers none of them); a worker's reads them before it relays.
   */
  shared?: SharedAnswers | null;
}

const TCP_LIMIT = 65535;
/** Explanations kept (per Service name and client placement) until the view changes. */
const EXPLAINED_LIMIT = 1024;

const joinBriefly = (parts: readonly Uint8Array[]): Buffer => Buffer.concat(parts);

/** The lowercased question name of a query the fast path read (so it parses). */
function nameOf(request: Buffer): string {
  const parsed = parseQuery(request);
  return parsed.kind === 'query' ? parsed.query.qname.toLowerCase() : '';
}

function noFacts(): QueryFacts {
  return { zone: '.', qtype: 0, qname: '', route: null };
}

/** The query a fast-path read stands for: its name is the cached one, its class IN. */
function wholeQuery(head: CommonQuery, qname: string): Query {
  return { id: head.id, flags: head.flags, qname, qtype: head.qtype, qclass: CLASS_IN, questionEnd: head.questionEnd, edns: head.edns, replyOptions: head.replyOptions };
}

/** What the answer cache keeps per question: the route, the name it was read as, what it depends on. */
interface CachedRoute {
  answer: Routed;
  zone: string;
  /** Lowercase: the same for every letter case the question comes in. */
  qname: string;
  /** The answer as one run of bytes, when every client gets it the same way. */
  fixed: FixedAnswer | null;
  /** Where `fixed`'s bytes are in the shared table (a router's handler only); null when they are this thread's own. */
  shared: SharedRef | null;
  scope: AnswerScope;
}

export class QueryHandler {
  private readonly cache: AnswerCache<CachedRoute> | null;
  private readonly queryStats: QueryStats | null;
  private readonly router: Router | null;
  private readonly relay: Relay | null;
  private readonly shared: SharedAnswers | null;
  /** Whether a query's name is read even when its answer is found without it (rate limiting, the query log). */
  private readonly namesNeeded: boolean;
  private readonly settings: Settings;
  private readonly state: HandlerState;
  private readonly log: Logger;
  /** Where clients are placed: from the view, or in a worker, what the primary told it (learned). */
  private readonly clients: ClientPlacements;
  private readonly learned: LearnedPlacements | null;
  private readonly forwarder: ForwardAnswerer | null;
  private readonly recursionAllowed: Cidr[];
  private readonly autopath: Autopath | null;
  private readonly queryLogRate: number;
  private readonly rateLimiter: ResponseRateLimiter | null;
  private readonly clusterZones: Set<string>;
  private readonly ednsReplies: EdnsReplies;
  /** The facts of the query being answered (freshFacts). */
  private readonly facts: QueryFacts = noFacts();
  /** Facts a waiting query's continuation fills in, handed from answer() to its caller (keptFacts). */
  private detached: QueryFacts | null = null;
  /** CHAOS TXT explanations by name and client placement; emptied on every view change. */
  private readonly explained = new Map<string, ExplanationLines | null>();

  constructor({ router = null, relay = null, settings, state, log, forwarder = null, queryStats = null, autopath = null, view = null, shared = null }: QueryHandlerOptions) {
    if (router === null && relay === null) throw new Error('a query handler needs a router or a relay');
    this.router = router;
    this.relay = relay;
    this.shared = settings.answerCacheSize > 0 ? shared : null;
    // A router's handler writes the table: what a previous handler (older settings) left there goes.
    if (router !== null) shared?.releaseAll();
    this.autopath = autopath;
    this.queryLogRate = settings.queryLogSampleRate;
    this.rateLimiter = settings.rateLimit.responsesPerSecond > 0 ? new ResponseRateLimiter(settings.rateLimit) : null;
    this.clusterZones = new Set([...settings.zones, ...settings.reverse.zones]);
    this.queryStats = queryStats;
    this.forwarder = forwarder;
    this.recursionAllowed = settings.forward.allowedClients.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== null);
    this.learned = relay !== null ? new LearnedPlacements() : null;
    this.clients = this.learned ?? new ClientClassifier(settings, view);
    this.settings = settings;
    this.state = state;
    this.log = log;
    this.namesNeeded = this.rateLimiter !== null || this.queryLogRate > 0;
    const table = router !== null ? this.shared : null;
    this.cache = settings.answerCacheSize > 0 ? new AnswerCache<CachedRoute>(settings.answerCacheSize, table && ((route) => route.shared !== null && table.release(route.shared))) : null;
    this.ednsReplies = new EdnsReplies(settings);
  }

  /** Drops the prepared answers a change of the view affects. */
  invalidate(change: ViewChange): void {
    this.cache?.invalidate(change);
    this.explained.clear();
  }

  /** A worker's: where clients are placed may have changed (a Node, an endpoint, a pod): what it learned goes. */
  forgetPlacements(): void {
    this.learned?.clear();
  }

  /** Drops one Service's prepared answers (its slow start moved a step). */
  refreshService(namespace: string, service: string): void {
    this.cache?.dropService(namespace, service);
    // Explanations carry ramping shares too; the few kept are rebuilt on the next CH query.
    this.explained.clear();
  }

  /**
   * The response bytes for one request from `client` (its address), or null to send nothing; a
   * promise only for names that go upstream. Never throws, and the promise never rejects.
   */
  handle(request: Buffer, transport: Transport, client: string): Buffer | null | Promise<Buffer | null> {
    const started = performance.now();
    // Filled in by answer() as far as it reads the query: a query answered early (malformed, not
    // ready, refused) is still counted with what was read.
    const facts = this.freshFacts();
    try {
      const response = this.answer(request, transport, client, facts, false);
      if (response instanceof Promise) {
        const kept = this.keptFacts(facts);
        return response.then(
          (bytes) => {
            this.observe(kept, transport, client, request.length, bytes, started);
            return bytes;
          },
          (error: unknown) => {
            this.queryStats?.failed();
            this.log.error({ err: error }, 'query handling failed');
            return null;
          },
        );
      }
      this.observe(facts, transport, client, request.length, response, started);
      return response;
    } catch (error) {
      this.queryStats?.failed();
      this.log.error({ err: error }, 'query handling failed');
      return null;
    }
  }

  /**
   * A request a serving worker relayed: answered as handle() answers it, but not counted (the
   * worker that received it counts it), with what the worker may keep. Only an answer made in this
   * turn teaches a route or a placement: they were read from the view as it is now, and the pool
   * posts the reply before the drops of any later change (workers/pool.ts), so a worker never
   * keeps a route older than a drop it has applied. An answer that waited (upstream) teaches nothing.
   */
  answerRelayed(request: Buffer, transport: Transport, client: string): RelayReply | Promise<RelayReply> {
    const facts = this.freshFacts();
    try {
      const response = this.answer(request, transport, client, facts, true);
      if (!(response instanceof Promise)) return this.relayReply(response, facts, this.teach(facts.route, client));
      const kept = this.keptFacts(facts);
      return response.then(
        (bytes) => this.relayReply(bytes, kept, null),
        (error: unknown) => this.relayFailed(error, kept),
      );
    } catch (error) {
      return this.relayFailed(error, facts);
    }
  }

  /**
   * The facts of a query answered now, in one object reused for every query. Not one object per
   * query: the few queries that wait (relayed, forwarded) kept theirs alive across collections, so
   * V8 learned to allocate every query's straight into the old generation (allocation-site
   * pretenuring), where each one then waited for a full collection: a serving worker's heap grew
   * by 8 MB every 1.4 s under load, and it held about 5 MiB more for it (--trace-gc, and a
   * sampling heap profile of what survived the young generation).
   */
  private freshFacts(): QueryFacts {
    const facts = this.facts;
    facts.zone = '.';
    facts.qtype = 0;
    facts.qname = '';
    facts.route = null;
    this.detached = null;
    return facts;
  }

  /** Facts of their own for a query that waits: what answer() handed over (relayed), else a copy. */
  private keptFacts(facts: QueryFacts): QueryFacts {
    const kept = this.detached ?? { zone: facts.zone, qtype: facts.qtype, qname: facts.qname, route: facts.route };
    this.detached = null;
    return kept;
  }

  private relayReply(response: Buffer | null, facts: QueryFacts, learned: LearnedRoute | null): RelayReply {
    return { response, zone: facts.zone, qtype: facts.qtype, qname: facts.qname, learned };
  }

  private relayFailed(error: unknown, facts: QueryFacts): RelayReply {
    this.queryStats?.failed();
    this.log.error({ err: error }, 'query handling failed');
    return this.relayReply(null, facts, null);
  }

  /**
   * What a worker may keep of this route: any answer it can finish alone given the client's
   * placement (sent along when the answer is balanced by a plan). Not forwarding, ExternalName
   * completion or autopath: they need the forwarder and the view.
   */
  private teach(route: CachedRoute | null, client: string): LearnedRoute | null {
    if (route === null) return null;
    const { answer } = route;
    if ('forward' in answer) return null;
    if ('answers' in answer && (answer.chase !== undefined || (answer.rcode === RCode.NXDOMAIN && this.autopath))) return null;
    const { zone, qname, scope, fixed } = route;
    // Workers read it from the shared table.
    if (route.shared !== null) return null;
    if (fixed !== null) return { answer: bareRcode(fixed.rcode), fixed, zone, qname, scope, placement: null };
    const placement = 'answers' in answer && answer.plan !== null ? this.clients.classify(client) : null;
    return { answer, fixed: null, zone, qname, scope, placement };
  }

  /** Whether this worker can finish the route's answer for `client` without the primary. */
  private finishes(routed: Routed, client: string): boolean {
    return !('answers' in routed) || routed.plan === null || this.clients.classify(client) !== null;
  }

  /**
   * A worker's: the primary answers the request; its route and the client's placement are kept,
   * so the next such query is answered here. Not answered (relays full, no reply in time): SERVFAIL.
   */
  private relayed(request: Buffer, transport: Transport, client: string, current: QueryFacts): Promise<Buffer | null> {
    // The reply's facts are filled in later, when `current` serves other queries: these are its own.
    const facts: QueryFacts = { zone: current.zone, qtype: current.qtype, qname: current.qname, route: null };
    this.detached = facts;
    return (this.relay as Relay).relay(request, transport, client).then((reply) => {
      if (reply === null) return this.unanswered(request, facts);
      facts.zone = reply.zone;
      facts.qtype = reply.qtype;
      facts.qname = reply.qname;
      if (reply.learned !== null) this.keep(request, reply.learned, client);
      return reply.response;
    });
  }

  private keep(request: Buffer, learned: LearnedRoute, client: string): void {
    const common = this.cache !== null ? readCommonQuery(request) : null;
    if (common !== null) {
      const route: CachedRoute = { answer: learned.answer, zone: learned.zone, qname: learned.qname, fixed: learned.fixed, shared: null, scope: learned.scope };
      (this.cache as AnswerCache<CachedRoute>).set(request, common, route, learned.scope);
    }
    if (learned.placement !== null) this.learned?.learn(client, learned.placement);
  }

  /** SERVFAIL for a query the primary did not answer, when it is one; else nothing. */
  private unanswered(request: Buffer, facts: QueryFacts): Buffer | null {
    const parsed = parseQuery(request);
    if (parsed.kind !== 'query') return null;
    facts.qtype = parsed.query.qtype;
    facts.qname = parsed.query.qname;
    return writeBareResponse(request, parsed.query, RCode.SERVFAIL, this.settings.maxUdpSize);
  }

  /**
   * Response rate limiting, decided from the route before any answer is built or any upstream
   * asked: a flood of one question costs a table look-up, not a response. Answers are told apart
   * by name, type and rcode (forwarded ones by name and type: their rcode is not known yet).
   */
  private rateDecision(client: string, facts: QueryFacts, routed: Routed): RateDecision {
    if (!this.limits(facts.zone)) return 'send';
    const rcode = 'forward' in routed ? 'forward' : routed.rcode;
    return (this.rateLimiter as ResponseRateLimiter).decide(client, `${facts.qtype} ${facts.qname} ${rcode}`);
  }

  /** Whether response rate limiting applies to answers from `zone`. */
  private limits(zone: string): boolean {
    return this.rateLimiter !== null && !(this.clusterZones.has(zone) && !this.settings.rateLimit.clusterZones);
  }

  /** Whether the addon may answer from the shared table itself: no answer of it is logged then (it counts them, through countNative). */
  get answersNatively(): boolean {
    return this.shared !== null && this.queryLogRate === 0;
  }

  /**
   * A UDP query the addon answered from the shared table (udp-batch.ts): counted as answer()
   * and observe() count one. `zoneIndex` is the table's number for the answer's zone.
   */
  countNative(zoneIndex: number, family: number, qtype: number, requestSize: number, rcode: number, responseSize: number, seconds: number): void {
    const stats = this.queryStats;
    if (stats === null) return;
    stats.count((this.shared as SharedAnswers).zoneAt(zoneIndex) ?? '.', 'udp', family, qtype, requestSize, rcode, responseSize, seconds);
    stats.answeredNatively();
  }

  /** Counts of limited responses, for metrics. */
  get rateLimited(): { dropped: number; slipped: number } {
    return { dropped: this.rateLimiter?.dropped ?? 0, slipped: this.rateLimiter?.slipped ?? 0 };
  }

  private observe(facts: QueryFacts, transport: Transport, client: string, requestSize: number, response: Buffer | null, started: number): void {
    const seconds = (performance.now() - started) / 1000;
    this.queryStats?.record(facts.zone, transport, client, facts.qtype, requestSize, response, seconds);
    if (this.queryLogRate > 0 && Math.random() < this.queryLogRate) {
      this.log.info(
        { client, proto: transport, name: facts.qname, type: typeName(facts.qtype), rcode: response && response.length >= 4 ? rcodeName(headerRcode(response)) : 'dropped', durationMs: Math.round(seconds * 1e6) / 1000 },
        'query',
      );
    }
  }

  private mayRecurse(client: string): boolean {
    const address = clientAddressBytes(client);
    if (address === null) return false;
    return this.recursionAllowed.some((cidr) => cidrContains(cidr, address));
  }

  /**
   * The response; fills in `facts` (see handle) as it learns them. `forWorker`: a worker relayed it
   * (answerRelayed), and keeps the answers every client gets alike itself: cached here too they
   * would be held twice, and a flood of new names would fill both caches. Routes with a plan
   * are still cached: they cost their Service's size to prepare, and a client a worker cannot
   * place relays them again.
   */
  private answer(request: Buffer, transport: Transport, client: string, facts: QueryFacts, forWorker: boolean): Buffer | null | Promise<Buffer | null> {
    const advertised = this.settings.maxUdpSize;
    // A repeat query of the usual shape finds its answer from the question's bytes alone.
    const common = this.cache !== null && this.state.ready ? readCommonQuery(request) : null;
    let cached = common !== null ? (this.cache as AnswerCache<CachedRoute>).get(request, common) : undefined;
    // Its bytes left the shared table (their segment was reused): made again below.
    if (cached !== undefined && cached.shared !== null && !(this.shared as SharedAnswers).holds(cached.shared)) cached = undefined;
    if (this.relay !== null) {
      // A worker answers what it holds or the shared table holds; the primary answers the rest, whole (parsing included).
      if (cached === undefined && common !== null && this.shared !== null) cached = this.sharedRoute(request, common);
      if (cached === undefined || !this.finishes(cached.answer, client)) return this.relayed(request, transport, client, facts);
    }
    let head: ResponseHead & { qtype: number };
    let query: Query | null = null;
    if (cached !== undefined) {
      head = common as CommonQuery;
      const rcode = this.ednsReply(request, head, transport, client);
      if (rcode !== null) return writeBareResponse(request, head, rcode, advertised);
    } else {
      const parsed = parseQuery(request);
      if (parsed.kind === 'drop') return null;
      if (parsed.kind === 'error') {
        this.ednsReply(request, parsed, transport, client);
        return writeBareResponse(request, parsed, parsed.rcode, advertised);
      }
      query = head = parsed.query;
      const rcode = this.ednsReply(request, head, transport, client);
      if (rcode !== null) return writeBareResponse(request, head, rcode, advertised);
      facts.qtype = query.qtype;
      facts.qname = query.qname;
      if (!this.state.ready) return writeBareResponse(request, query, RCode.SERVFAIL, advertised);
      const router = this.router as Router;
      if (query.qclass === CLASS_CH && query.qtype === RRType.TXT && router.explain) {
        const zone = longestZoneOf(query.qname.toLowerCase(), this.settings.zones);
        if (zone !== undefined) {
          facts.zone = zone;
          return this.explainAnswer(request, query, transport, client);
        }
      }
      if (query.qtype === RRType.AXFR || query.qtype === RRType.IXFR || (query.qclass !== CLASS_IN && query.qclass !== CLASS_ANY)) {
        return writeBareResponse(request, query, RCode.REFUSED, advertised);
      }
      const result = router.route(query.qname, query.qtype);
      cached = this.newRoute(request, common, query.qname, result.zone, result.answer, result.scope);
      // A worker keeps the fixed answers that are not shared itself: cached here too they would be held twice.
      if (common !== null && (!forWorker || cached.fixed === null || cached.shared !== null)) this.cache?.set(request, common, cached, result.scope);
    }
    facts.qtype = head.qtype;
    facts.qname = cached.qname;
    facts.zone = cached.zone;
    facts.route = cached;
    const routed = cached.answer;
    if (this.rateLimiter !== null && transport === 'udp') {
      const decision = this.rateDecision(client, facts, routed);
      if (decision === 'drop') return null;
      // A slip: the question alone with TC, so a real client asks again over TCP.
      if (decision === 'slip') return writeBareResponse(request, head, 'forward' in routed ? RCode.NOERROR : routed.rcode, advertised, true);
    }
    const limit = transport === 'tcp' ? TCP_LIMIT : udpLimit(head.edns, advertised);
    if (cached.fixed !== null) return writeFixedResponse(request, head, cached.fixed, limit, advertised);
    const options = { limit, advertisedUdpSize: advertised };
    // Forwarding, ExternalName targets and autopath need the whole query; the fast path read only its head.
    if ('forward' in routed) {
      if (!this.forwarder || !this.mayRecurse(client)) return writeBareResponse(request, head, RCode.REFUSED, advertised);
      return this.forwarder.answer(request, query ?? wholeQuery(head as CommonQuery, cached.qname), limit, client);
    }
    if (!('answers' in routed)) return writeBareResponse(request, head, routed.rcode, advertised);
    // ExternalName completion and autopath ask upstream: only for clients allowed recursion.
    if (routed.chase && this.forwarder && this.mayRecurse(client)) {
      const whole = query ?? wholeQuery(head as CommonQuery, cached.qname);
      return completeExternalName(routed, routed.chase, whole, this.forwarder, client).then((complete) => this.respond(request, whole, complete, client, options));
    }
    if (routed.rcode === RCode.NXDOMAIN && this.autopath) {
      const found = this.autopath.attempt(query ?? wholeQuery(head as CommonQuery, cached.qname), cached.zone, client, this.mayRecurse(client));
      if (found instanceof Promise) return found.then((answer) => this.respond(request, head, answer ?? routed, client, options));
      if (found) return this.respond(request, head, found, client, options);
    }
    return this.respond(request, head, routed, client, options);
  }

  /**
   * Cookie and NSID (server/edns-reply.ts): the response's options set on `head`, only when its
   * OPT record has options; an rcode when they make the query an error (FORMERR, BADCOOKIE).
   */
  private ednsReply(request: Buffer, head: ResponseHead, transport: Transport, client: string): number | null {
    if (head.edns === null || head.edns.optionsAt === undefined) return null;
    const reply = this.ednsReplies.reply(request, head.edns, client, transport);
    if (reply.options !== undefined) head.replyOptions = reply.options;
    return reply.rcode;
  }

  /**
   * `dig <service name> TXT CH`: why this client gets the answer it gets, as TXT strings (see
   * resolve/explain.ts), for clients allowed recursion only (it names pods, nodes and zones).
   * Rate limited like any answer; the work per query is bounded by EXPLAIN_LISTED, not by the
   * Service's size: the explanation is built once per Service and placement until the view changes.
   */
  private explainAnswer(request: Buffer, query: Query, transport: Transport, client: string): Buffer | null {
    const advertised = this.settings.maxUdpSize;
    const qname = query.qname.toLowerCase();
    const allowed = this.mayRecurse(client);
    // Limited before anything is decided, as other answers are, whatever rateLimit.clusterZones says: this one costs more.
    if (this.rateLimiter !== null && transport === 'udp') {
      const decision = this.rateLimiter.decide(client, `CH ${query.qtype} ${qname} ${allowed}`);
      if (decision === 'drop') return null;
      if (decision === 'slip') return writeBareResponse(request, query, allowed ? RCode.NOERROR : RCode.REFUSED, advertised, true);
    }
    if (!allowed) return writeBareResponse(request, query, RCode.REFUSED, advertised);
    const info = this.clients.classify(client) as Client;
    const placed = placement(canonicalIp(client) ?? client, info);
    const key = `${qname}|${placed.zone ?? ''}|${placed.node ?? ''}`;
    let lines = this.explained.get(key);
    if (lines === undefined) {
      lines = ((this.router as Router).explain as NonNullable<Router['explain']>)(qname, info);
      if (this.explained.size >= EXPLAINED_LIMIT) this.explained.clear();
      this.explained.set(key, lines);
    }
    if (lines === null) return writeBareResponse(request, query, RCode.NXDOMAIN, advertised);
    const answers = chaosTxtRecords(qname, [...lines.head, clientLine(placed), ...lines.tail]);
    const limit = transport === 'tcp' ? TCP_LIMIT : udpLimit(query.edns, advertised);
    const answer = { rcode: RCode.NOERROR, authoritative: true, answers, balancedFrom: answers.length, authority: [], additional: [] };
    return writeResponse(request, query, answer, null, { limit, advertisedUdpSize: advertised });
  }

  /**
   * What to cache for a question just routed. A fixed answer is kept as its bytes alone: the
   * prepared answer's record buffers, arrays and layout cost more than those bytes (about 0.4 KiB
   * per answer). Those bytes go into the shared table when it takes them, else into this thread's
   * kept bytes.
   */
  private newRoute(request: Buffer, common: CommonQuery | null, qname: string, zone: string, answer: Routed, scope: AnswerScope): CachedRoute {
    const table = common !== null ? this.shared : null;
    // Joined for the moment only when the table is to take a copy.
    const fixed = 'answers' in answer && !(answer.rcode === RCode.NXDOMAIN && this.autopath) ? toFixedAnswer(answer, table !== null ? joinBriefly : undefined) : null;
    if (fixed === null) return { answer, zone, qname, fixed: null, shared: null, scope };
    if (table === null) return { answer: bareRcode(fixed.rcode), zone, qname, fixed, shared: null, scope };
    const shared = table.put(request, common as CommonQuery, fixed, zone, !this.limits(zone));
    const records = shared !== null ? (table.recordsOf(shared) as Buffer) : keepBytes(fixed.records);
    return { answer: bareRcode(fixed.rcode), zone, qname, fixed: { ...fixed, records }, shared, scope };
  }

  /**
   * A worker's: the fixed answer the shared table holds for this question, as a route answered
   * like any cached one. Its name is read only when something needs it (rate limiting, the query log).
   */
  private sharedRoute(request: Buffer, common: CommonQuery): CachedRoute | undefined {
    const hit = (this.shared as SharedAnswers).read(request, common);
    if (hit === null) return undefined;
    const qname = this.namesNeeded ? nameOf(request) : '';
    return { answer: bareRcode(hit.fixed.rcode), zone: hit.zone, qname, fixed: hit.fixed, shared: null, scope: GLOBAL_SCOPE };
  }

  /** The response with the answer's balanced records chosen and ordered for this client. */
  private respond(request: Buffer, head: ResponseHead, answer: PreparedAnswer, client: string, options: ResponseOptions): Buffer {
    const chosen = this.choose(answer, client, head, options.limit);
    return writeResponse(request, head, answer, chosen?.records ?? null, options, chosen?.additional ?? null);
  }

  /**
   * The balanced records for this client, in order, only as many as the response can carry (one
   * more when they do not all fit, so it truncates); null when there is nothing to reorder.
   */
  private choose(answer: PreparedAnswer, client: string, head: ResponseHead, limit: number): Choice | null {
    const count = answer.answers.length - answer.balancedFrom;
    if (count === 0 || (count === 1 && !answer.plan)) return null;
    const layout = answerLayout(answer);
    const budget = balancedBudget(head, answer, layout, limit);
    if (answer.plan) {
      this.queryStats?.balanced(answer.plan.metricLabel);
      // Never null here: a worker relays an answer whose client it cannot place (finishes()).
      return chooseRecords(answer, answer.plan, this.clients.classify(client) as Client, budget);
    }
    const order = layout.shuffleOrder ?? (layoutAnswer(answer.answers, answer.balancedFrom, answer.additional, true).shuffleOrder as Uint32Array);
    return { records: chooseShuffled(answer.answers, answer.balancedFrom, order, budget), additional: null };
  }
}
