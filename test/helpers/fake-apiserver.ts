/**
 * An in-process Kubernetes API server that speaks the list/watch protocol closely enough for the
 * real `@kubernetes/client-node` to list and watch through it: resourceVersions from one global
 * counter, history replay for watches that resume, 410 Expired after compaction, bookmarks,
 * consistent paginated lists, selectors, bearer-token auth and optional TLS.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface KubeObject {
  apiVersion?: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface FakeApiServerOptions {
  /** Bearer token every request must carry; default `test-token`. */
  token?: string;
  /** Serve https with a self-signed certificate for 127.0.0.1; default false. */
  tls?: boolean;
  /** Interval of BOOKMARK events, sent only to watches that asked with allowWatchBookmarks=true; default 1000. */
  bookmarkIntervalMs?: number;
  /** false makes the cluster look like it has no discovery.k8s.io/v1; default true. */
  endpointSlices?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  watch: boolean;
  at: number;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

interface KindInfo {
  kind: string;
  apiVersion: string;
  group: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
}

const KINDS: readonly KindInfo[] = [
  { kind: 'Namespace', apiVersion: 'v1', group: '', plural: 'namespaces', singular: 'namespace', namespaced: false, shortNames: ['ns'] },
  { kind: 'Service', apiVersion: 'v1', group: '', plural: 'services', singular: 'service', namespaced: true, shortNames: ['svc'] },
  { kind: 'Endpoints', apiVersion: 'v1', group: '', plural: 'endpoints', singular: 'endpoints', namespaced: true, shortNames: ['ep'] },
  { kind: 'Pod', apiVersion: 'v1', group: '', plural: 'pods', singular: 'pod', namespaced: true, shortNames: ['po'] },
  { kind: 'Node', apiVersion: 'v1', group: '', plural: 'nodes', singular: 'node', namespaced: false, shortNames: ['no'] },
  {
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    group: 'discovery.k8s.io',
    plural: 'endpointslices',
    singular: 'endpointslice',
    namespaced: true,
    shortNames: [],
  },
];

const DISCOVERY_GROUP = 'discovery.k8s.io';
const VERBS = ['get', 'list', 'watch'];

function kindInfo(kind: string): KindInfo {
  const info = KINDS.find((k) => k.kind === kind);
  if (!info) throw new Error(`fake-apiserver does not serve kind ${kind}`);
  return info;
}

function storeKey(namespace: string | undefined, name: string): string {
  // Same order as etcd keys (/registry/<plural>/<ns>/<name>), which is what paginated lists follow.
  return namespace ? `${namespace}/${name}` : name;
}

export function statusObject(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

// ---------------------------------------------------------------------------------------------
// Selectors

type Matcher = (object: KubeObject) => boolean;

function splitTopLevel(text: string): string[] {
  // Commas inside `in (a,b)` do not separate requirements.
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const LABEL_KEY = /^([a-z0-9A-Z.-]+\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;

export function parseLabelSelector(selector: string): Matcher {
  const requirements: Matcher[] = [];
  for (const part of splitTopLevel(selector)) {
    const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
    let key: string;
    let requirement: (labels: Record<string, string>) => boolean;
    if (set) {
      key = set[1] ?? '';
      const values = new Set((set[3] ?? '').split(',').map((v) => v.trim()));
      const inSet = (l: Record<string, string>) => {
        const value = l[key];
        return value !== undefined && values.has(value);
      };
      requirement = set[2] === 'in' ? inSet : (l) => !inSet(l);
    } else if (part.startsWith('!')) {
      key = part.slice(1).trim();
      requirement = (l) => l[key] === undefined;
    } else {
      const op = /^([^=!]+?)\s*(==|!=|=)\s*(.*)$/.exec(part);
      if (op) {
        key = op[1] ?? '';
        const value = (op[3] ?? '').trim();
        requirement = op[2] === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
      } else {
        key = part;
        requirement = (l) => l[key] !== undefined;
      }
    }
    if (!LABEL_KEY.test(key)) throw new Error(`unable to parse requirement: invalid label key "${key}"`);
    requirements.push((o) => requirement(o.metadata.labels ?? {}));
  }
  return (o) => requirements.every((r) => r(o));
}

function fieldValue(object: KubeObject, path: string): string {
  let value: unknown = object;
  for (const step of path.split('.')) {
    if (value === null || typeof value !== 'object') return '';
    value = (value as Record<string, unknown>)[step];
  }
  return value === undefined || value === null ? '' : String(value);
}

export function parseFieldSelector(selector: string): Matcher {
  const requirements: Matcher[] = [];
  for (const part of splitTopLevel(selector)) {
    const op = /^([^=!]+?)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (!op) throw new Error(`invalid selector: '${selector}'; can't understand '${part}'`);
    const field = op[1] ?? '';
    const value = op[3] ?? '';
    requirements.push(op[2] === '!=' ? (o) => fieldValue(o, field) !== value : (o) => fieldValue(o, field) === value);
  }
  return (o) => requirements.every((r) => r(o));
}

// ---------------------------------------------------------------------------------------------
// Paths

interface Scope {
  info: KindInfo;
  namespace: string | undefined;
  name: string | undefined;
}

type Route =
  | { type: 'json'; body: unknown }
  | { type: 'collection'; scope: Scope }
  | { type: 'object'; scope: Scope & { name: string } };

interface HistoryEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  kind: string;
  key: string;
  /** The state before; undefined for ADDED. */
  prev: KubeObject | undefined;
  /** The state after; for DELETED, the last state carrying the deletion's resourceVersion. */
  object: KubeObject;
}

interface OpenWatch {
  kind: string;
  matches: Matcher;
  /** Live events at or below this are already covered by the replay. */
  sinceRV: number;
  /** The resourceVersion of the last event sent, which is where this watcher would resume. */
  lastRV: number;
  res: ServerResponse;
  /** Timeouts and intervals alike: clearTimeout clears both in Node. */
  timers: NodeJS.Timeout[];
  closed: boolean;
}

interface ContinueToken {
  rv: number;
  start: string;
}

interface TlsMaterial {
  key: string;
  cert: string;
}

let cachedTls: TlsMaterial | undefined;

function selfSignedCertificate(): TlsMaterial {
  // One certificate per test process: openssl costs tens of milliseconds and the fake never rotates it.
  if (cachedTls) return cachedTls;
  const dir = mkdtempSync(join(tmpdir(), 'fake-apiserver-tls-'));
  try {
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
        '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-addext', 'basicConstraints=critical,CA:TRUE',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    cachedTls = { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8') };
    return cachedTls;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function withoutTypeMeta(object: KubeObject): Record<string, unknown> {
  const { kind: _kind, apiVersion: _apiVersion, ...rest } = object;
  return rest;
}

function withResourceVersion(object: KubeObject, rv: number): KubeObject {
  return { ...object, metadata: { ...object.metadata, resourceVersion: String(rv) } };
}

function parseRV(text: string): number | undefined {
  return /^[0-9]+$/.test(text) ? Number(text) : undefined;
}

export class FakeApiServer {
  token: string;
  requests: RecordedRequest[] = [];
  /** TCP connections accepted so far: whether a client reuses one (keep-alive) or opens one per request. */
  connections = 0;

  #options: Required<Omit<FakeApiServerOptions, 'token'>>;
  #tls: TlsMaterial | undefined;
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  #port = 0;

  /** Current state per kind, keyed by storeKey. Stored objects are never mutated, only replaced. */
  #objects = new Map<string, Map<string, KubeObject>>();
  /** The last resourceVersion handed out; the list resourceVersion of the current state. */
  #rv = 1;
  /** State as of #compactedRV; replaying #history onto it rebuilds any later snapshot. */
  #base = new Map<string, Map<string, KubeObject>>();
  #compactedRV = 0;
  #history: HistoryEvent[] = [];
  #watches = new Set<OpenWatch>();
  #failures: { status: number; remaining: number; filter: ((r: RecordedRequest) => boolean) | undefined }[] = [];

  private constructor(options: FakeApiServerOptions) {
    this.token = options.token ?? 'test-token';
    this.#options = {
      tls: options.tls ?? false,
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1000,
      endpointSlices: options.endpointSlices ?? true,
    };
    this.#tls = this.#options.tls ? selfSignedCertificate() : undefined;
    for (const info of KINDS) {
      this.#objects.set(info.kind, new Map());
      this.#base.set(info.kind, new Map());
    }
  }

  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const fake = new FakeApiServer(options);
    await fake.#listen(0);
    return fake;
  }

  /** Servers listening now: a test that failed before its own stop() leaves its server here. */
  static readonly #running = new Set<FakeApiServer>();

  /**
   * Stops every server still listening. A file's top-level `after` calls it, so a test that throws
   * before its `finally` (lbdns failing to start, say) cannot leave a listener that keeps the
   * test file from ever exiting.
   */
  static async stopAll(): Promise<void> {
    await Promise.all([...FakeApiServer.#running].map((fake) => fake.stop()));
  }

  get url(): string {
    return `${this.#tls ? 'https' : 'http'}://127.0.0.1:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  get caPem(): string | null {
    return this.#tls?.cert ?? null;
  }

  /** The resourceVersion of the current state, as a list would report it. */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  get listening(): boolean {
    return this.#server !== undefined;
  }

  // -------------------------------------------------------------------------------------------
  // State

  /**
   * Adds or replaces an object (a namespaced one without a namespace lands in `default`), stamps it
   * with the next resourceVersion, which it returns, and tells matching watches ADDED or MODIFIED.
   */
  upsert(object: KubeObject): string {
    const info = kindInfo(object.kind);
    const namespace = info.namespaced ? (object.metadata.namespace ?? 'default') : undefined;
    if (!info.namespaced && object.metadata.namespace !== undefined) throw new Error(`${info.kind} is cluster-scoped; drop metadata.namespace`);
    if (!object.metadata.name) throw new Error('metadata.name is required');
    const key = storeKey(namespace, object.metadata.name);
    const objects = this.#kindObjects(info.kind);
    const prev = objects.get(key);
    const rv = ++this.#rv;
    const { apiVersion, kind: _kind, ...copy } = structuredClone(object);
    const stored: KubeObject = {
      apiVersion: apiVersion ?? info.apiVersion,
      kind: info.kind,
      ...copy,
      metadata: {
        ...copy.metadata,
        ...(namespace !== undefined ? { namespace } : {}),
        uid: copy.metadata['uid'] ?? prev?.metadata['uid'] ?? randomUUID(),
        creationTimestamp: copy.metadata['creationTimestamp'] ?? prev?.metadata['creationTimestamp'] ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        resourceVersion: String(rv),
      },
    };
    objects.set(key, stored);
    this.#record({ rv, type: prev ? 'MODIFIED' : 'ADDED', kind: info.kind, key, prev, object: stored });
    return String(rv);
  }

  /** Deletes an object (throws when there is none, to catch typos in tests); watches get DELETED with a new resourceVersion. */
  remove(kind: string, namespace: string | undefined, name: string): void {
    const info = kindInfo(kind);
    const key = storeKey(info.namespaced ? (namespace ?? 'default') : undefined, name);
    const objects = this.#kindObjects(info.kind);
    const prev = objects.get(key);
    if (!prev) throw new Error(`no ${kind} ${key} to remove`);
    objects.delete(key);
    const rv = ++this.#rv;
    this.#record({ rv, type: 'DELETED', kind: info.kind, key, prev, object: withResourceVersion(prev, rv) });
  }

  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const info = kindInfo(kind);
    const object = this.#kindObjects(info.kind).get(storeKey(info.namespaced ? (namespace ?? 'default') : undefined, name));
    return object ? structuredClone(object) : undefined;
  }

  /** Every current object of a kind, in no particular order. */
  list(kind: string): KubeObject[] {
    return [...this.#kindObjects(kindInfo(kind).kind).values()].map((o) => structuredClone(o));
  }

  /**
   * Forgets all history before the current resourceVersion: lists and watches from older ones get
   * 410 Expired, and every open watch gets a 410 ERROR event and is closed.
   */
  compact(): void {
    this.#compactedRV = this.#rv;
    this.#base = new Map([...this.#objects].map(([kind, objects]) => [kind, new Map(objects)]));
    this.#history = [];
    // Harsher than a real API server, which only expires watchers that fell behind: tests use this to
    // force every watcher through the relist path.
    for (const watch of [...this.#watches]) {
      this.#send(watch, { type: 'ERROR', object: this.#expired(watch.lastRV) });
      this.#endWatch(watch);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Watches

  /** Ends every open watch cleanly, as an API server does on its request timeout or a graceful restart. */
  closeWatches(): void {
    for (const watch of [...this.#watches]) this.#endWatch(watch);
  }

  openWatches(kind?: string): number {
    return [...this.#watches].filter((w) => kind === undefined || w.kind === kind).length;
  }

  /** Resolves once at least `count` watches of `kind` (any kind when undefined) are open. */
  async waitForWatches(kind: string | undefined, count = 1, timeoutMs = 2000): Promise<void> {
    await this.#poll(() => this.openWatches(kind) >= count, timeoutMs, () => `${count} open ${kind ?? ''} watch(es), have ${this.openWatches(kind)}`);
  }

  /** Resolves with the first recorded request (already made or yet to come) that matches. */
  async waitForRequest(match: (r: RecordedRequest) => boolean, timeoutMs = 2000): Promise<RecordedRequest> {
    let found: RecordedRequest | undefined;
    await this.#poll(() => (found = this.requests.find(match)) !== undefined, timeoutMs, () => 'a matching request');
    return found as RecordedRequest;
  }

  /** The next `count` requests that pass `filter` (all when undefined) fail with `status` and a Status body. */
  failNext(status: number, count = 1, filter?: (r: RecordedRequest) => boolean): void {
    this.#failures.push({ status, remaining: count, filter });
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /** The server goes down hard: the listener closes and every open connection is destroyed. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    FakeApiServer.#running.delete(this);
    for (const watch of this.#watches) {
      watch.closed = true;
      for (const t of watch.timers) clearTimeout(t);
    }
    this.#watches.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A crashed API server does not finish its chunked responses: clients must see a broken connection.
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await closed;
  }

  /** Listens again on the same port with the same state and certificate. */
  async restart(): Promise<void> {
    if (this.#server) return;
    await this.#listen(this.#port);
  }

  /** A kubeconfig whose current context reaches this server with `token` (default: the server's) or a `token-file`. */
  writeKubeconfig(path: string, options: { token?: string; tokenFile?: string; namespace?: string } = {}): void {
    const cluster: Record<string, unknown> = { server: this.url };
    if (this.#tls) cluster['certificate-authority-data'] = Buffer.from(this.#tls.cert).toString('base64');
    // client-node refuses plain http unless the cluster is marked insecure.
    else cluster['insecure-skip-tls-verify'] = true;
    const user = options.tokenFile !== undefined ? { 'token-file': options.tokenFile } : { token: options.token ?? this.token };
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster }],
      users: [{ name: 'fake', user }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', ...(options.namespace ? { namespace: options.namespace } : {}) } }],
      'current-context': 'fake',
    };
    writeFileSync(path, stringify(config));
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  async #listen(port: number): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => this.#handle(req, res);
    const server = this.#tls ? createHttpsServer({ key: this.#tls.key, cert: this.#tls.cert }, handler) : createHttpServer(handler);
    server.on('connection', (socket: Socket) => {
      this.connections++;
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    // A client that goes away mid-handshake or mid-request must not take the test process down.
    server.on('clientError', (_err, socket: Socket) => socket.destroy());
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected server address');
    this.#port = address.port;
    this.#server = server;
    FakeApiServer.#running.add(this);
  }

  async #poll(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`fake-apiserver: timed out after ${timeoutMs} ms waiting for ${what()}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  #kindObjects(kind: string): Map<string, KubeObject> {
    const objects = this.#objects.get(kind);
    if (!objects) throw new Error(`fake-apiserver does not serve kind ${kind}`);
    return objects;
  }

  #record(event: HistoryEvent): void {
    this.#history.push(event);
    for (const watch of [...this.#watches]) {
      if (watch.kind !== event.kind || event.rv <= watch.sinceRV) continue;
      const out = this.#eventFor(watch, event);
      if (out) this.#send(watch, out);
    }
  }

  /** How a watch with a selector sees one change: entering the selection is ADDED, leaving it DELETED. */
  #eventFor(watch: OpenWatch, event: HistoryEvent): WatchEvent | undefined {
    const prevMatch = event.prev !== undefined && watch.matches(event.prev);
    if (event.type === 'DELETED') return prevMatch ? { type: 'DELETED', object: event.object } : undefined;
    if (watch.matches(event.object)) return { type: prevMatch ? 'MODIFIED' : 'ADDED', object: event.object };
    // As the API server's watch cache does: the old content, stamped with the change's resourceVersion.
    if (prevMatch && event.prev) return { type: 'DELETED', object: withResourceVersion(event.prev, event.rv) };
    return undefined;
  }

  #stateAt(kind: string, rv: number): Map<string, KubeObject> {
    const state = new Map(this.#base.get(kind));
    for (const event of this.#history) {
      if (event.rv > rv) break;
      if (event.kind !== kind) continue;
      if (event.type === 'DELETED') state.delete(event.key);
      else state.set(event.key, event.object);
    }
    return state;
  }

  #expired(rv: number): Record<string, unknown> {
    return statusObject(410, 'Expired', `too old resource version: ${rv} (${this.#compactedRV})`);
  }

  #send(watch: OpenWatch, event: WatchEvent): void {
    if (watch.closed || watch.res.destroyed) return;
    const rv = parseRV(String((event.object['metadata'] as { resourceVersion?: unknown } | undefined)?.resourceVersion ?? ''));
    if (rv !== undefined) watch.lastRV = rv;
    watch.res.write(JSON.stringify(event) + '\n');
  }

  #endWatch(watch: OpenWatch): void {
    if (watch.closed) return;
    watch.closed = true;
    for (const t of watch.timers) clearTimeout(t);
    this.#watches.delete(watch);
    if (!watch.res.destroyed) watch.res.end();
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const watch = req.method === 'GET' && (query['watch'] === '1' || query['watch'] === 'true');
    const record: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query, status: 0, watch, at: Date.now() };
    const reply = (status: number, body: unknown) => {
      record.status = status;
      this.requests.push(record);
      const text = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    // Drain any request body so keep-alive connections stay usable.
    req.resume();
    try {
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        reply(401, statusObject(401, 'Unauthorized', 'Unauthorized'));
        return;
      }
      const failure = this.#failures.find((f) => f.remaining > 0 && (f.filter === undefined || f.filter(record)));
      if (failure) {
        failure.remaining--;
        this.#failures = this.#failures.filter((f) => f.remaining > 0);
        reply(failure.status, statusObject(failure.status, failure.status === 429 ? 'TooManyRequests' : 'InternalError', `injected failure ${failure.status}`));
        return;
      }
      const route = this.#route(url.pathname);
      if (!route) {
        reply(404, statusObject(404, 'NotFound', 'the server could not find the requested resource', {}));
        return;
      }
      if (req.method !== 'GET') {
        reply(405, statusObject(405, 'MethodNotAllowed', `the fake API server only serves GET, not ${req.method}`));
        return;
      }
      if (route.type === 'json') {
        reply(200, route.body);
        return;
      }
      let matches: Matcher;
      try {
        matches = this.#matcher(route.scope, query);
      } catch (err) {
        reply(400, statusObject(400, 'BadRequest', (err as Error).message));
        return;
      }
      if (watch) {
        this.#startWatch(route.scope.info, matches, query, res, record);
        return;
      }
      if (route.type === 'object') {
        const object = this.#kindObjects(route.scope.info.kind).get(storeKey(route.scope.namespace, route.scope.name));
        if (object) reply(200, object);
        else reply(404, statusObject(404, 'NotFound', `${route.scope.info.plural} "${route.scope.name}" not found`, { name: route.scope.name, kind: route.scope.info.plural }));
        return;
      }
      const [status, body] = this.#list(route.scope.info, matches, query);
      reply(status, body);
    } catch (err) {
      if (!res.headersSent) reply(500, statusObject(500, 'InternalError', `fake-apiserver: ${(err as Error).stack ?? String(err)}`));
      else res.destroy();
    }
  }

  #matcher(scope: Scope, query: Record<string, string>): Matcher {
    const label = query['labelSelector'] ? parseLabelSelector(query['labelSelector']) : undefined;
    const field = query['fieldSelector'] ? parseFieldSelector(query['fieldSelector']) : undefined;
    return (o) =>
      (scope.namespace === undefined || o.metadata.namespace === scope.namespace) &&
      (scope.name === undefined || o.metadata.name === scope.name) &&
      (label === undefined || label(o)) &&
      (field === undefined || field(o));
  }

  #list(info: KindInfo, matches: Matcher, query: Record<string, string>): [number, unknown] {
    const rvParam = query['resourceVersion'] ?? '';
    let snapshotRV = this.#rv;
    let startAfter: string | undefined;
    if (query['continue']) {
      if (rvParam !== '' && rvParam !== '0') return [400, statusObject(400, 'BadRequest', 'specifying resource version is not allowed when using continue')];
      let token: ContinueToken;
      try {
        token = JSON.parse(Buffer.from(query['continue'], 'base64url').toString('utf8')) as ContinueToken;
        if (typeof token.rv !== 'number' || typeof token.start !== 'string') throw new Error('bad token');
      } catch {
        return [400, statusObject(400, 'BadRequest', 'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)')];
      }
      if (token.rv < this.#compactedRV) {
        return [
          410,
          statusObject(
            410,
            'Expired',
            'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
          ),
        ];
      }
      snapshotRV = token.rv;
      startAfter = token.start;
    } else if (rvParam !== '' && rvParam !== '0') {
      const rv = parseRV(rvParam);
      if (rv === undefined) return [400, statusObject(400, 'BadRequest', `invalid resource version "${rvParam}"`)];
      if (rv < this.#compactedRV) return [410, statusObject(410, 'Expired', `too old resource version: ${rv} (${this.#compactedRV})`)];
      if (rv > this.#rv) {
        return [504, statusObject(504, 'Timeout', `Too large resource version: ${rv}, current: ${this.#rv}`, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 })];
      }
      // Without Exact the API server answers "not older than": the current state will do.
      if (query['resourceVersionMatch'] === 'Exact') snapshotRV = rv;
    }
    const state = snapshotRV === this.#rv ? this.#kindObjects(info.kind) : this.#stateAt(info.kind, snapshotRV);
    const keys = [...state.keys()].sort().filter((k) => startAfter === undefined || k > startAfter);
    const selected = keys.map((k) => state.get(k) as KubeObject).filter(matches);
    const limit = Number(query['limit'] ?? '0');
    const page = limit > 0 ? selected.slice(0, limit) : selected;
    const metadata: Record<string, unknown> = { resourceVersion: String(snapshotRV) };
    const last = page.at(-1);
    if (page.length < selected.length && last) {
      const token: ContinueToken = { rv: snapshotRV, start: storeKey(last.metadata.namespace, last.metadata.name) };
      metadata['continue'] = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', ...token })).toString('base64url');
      if (!query['labelSelector'] && !query['fieldSelector']) metadata['remainingItemCount'] = selected.length - page.length;
    }
    return [200, { kind: `${info.kind}List`, apiVersion: info.apiVersion, metadata, items: page.map(withoutTypeMeta) }];
  }

  #startWatch(info: KindInfo, matches: Matcher, query: Record<string, string>, res: ServerResponse, record: RecordedRequest): void {
    const rvParam = query['resourceVersion'] ?? '';
    const fromRV = rvParam === '' || rvParam === '0' ? undefined : parseRV(rvParam);
    if (rvParam !== '' && rvParam !== '0' && fromRV === undefined) {
      record.status = 400;
      this.requests.push(record);
      const text = JSON.stringify(statusObject(400, 'BadRequest', `invalid resource version "${rvParam}"`));
      res.writeHead(400, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    record.status = 200;
    this.requests.push(record);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    // The client's fetch resolves on headers; without this it would wait for the first event.
    res.flushHeaders();

    const watch: OpenWatch = { kind: info.kind, matches, sinceRV: this.#rv, lastRV: fromRV ?? this.#rv, res, timers: [], closed: false };
    const sendInitialEvents = query['sendInitialEvents'] === 'true';
    const bookmarks = query['allowWatchBookmarks'] === 'true';

    if (fromRV !== undefined && fromRV < this.#compactedRV && !sendInitialEvents) {
      res.end(JSON.stringify({ type: 'ERROR', object: this.#expired(fromRV) }) + '\n');
      return;
    }
    this.#watches.add(watch);
    res.on('close', () => this.#endWatch(watch));

    if (fromRV === undefined || sendInitialEvents) {
      const objects = this.#kindObjects(info.kind);
      for (const key of [...objects.keys()].sort()) {
        const object = objects.get(key) as KubeObject;
        if (matches(object)) this.#send(watch, { type: 'ADDED', object });
      }
      if (sendInitialEvents && bookmarks) {
        this.#send(watch, {
          type: 'BOOKMARK',
          object: { kind: info.kind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(this.#rv), annotations: { 'k8s.io/initial-events-end': 'true' } } },
        });
      }
    } else {
      for (const event of this.#history) {
        if (event.rv <= fromRV || event.kind !== info.kind) continue;
        const out = this.#eventFor(watch, event);
        if (out) this.#send(watch, out);
      }
      // A resourceVersion from the future: skip live events up to it, as if it had been reached.
      watch.sinceRV = Math.max(this.#rv, fromRV);
    }

    if (bookmarks) {
      const timer = setInterval(() => {
        this.#send(watch, { type: 'BOOKMARK', object: { kind: info.kind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(this.#rv) } } });
      }, this.#options.bookmarkIntervalMs);
      timer.unref();
      watch.timers.push(timer);
    }
    const timeoutSeconds = Number(query['timeoutSeconds'] ?? '0');
    if (timeoutSeconds > 0) {
      const timer = setTimeout(() => this.#endWatch(watch), timeoutSeconds * 1000);
      timer.unref();
      watch.timers.push(timer);
    }
  }

  #route(pathname: string): Route | undefined {
    const segments = pathname.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
    const slices = this.#options.endpointSlices;
    const joined = '/' + segments.join('/');
    if (joined === '/version') {
      return {
        type: 'json',
        body: { major: '1', minor: '33', gitVersion: 'v1.33.0-fake', gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2025-01-01T00:00:00Z', goVersion: 'go1.24.0', compiler: 'gc', platform: 'linux/amd64' },
      };
    }
        if (joined === '/api') {
      return { type: 'json', body: { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.#port}` }] } };
    }
    const discoveryGroup = {
      name: DISCOVERY_GROUP,
      versions: [{ groupVersion: `${DISCOVERY_GROUP}/v1`, version: 'v1' }],
      preferredVersion: { groupVersion: `${DISCOVERY_GROUP}/v1`, version: 'v1' },
    };
    if (joined === '/apis') return { type: 'json', body: { kind: 'APIGroupList', apiVersion: 'v1', groups: slices ? [discoveryGroup] : [] } };
    if (joined === `/apis/${DISCOVERY_GROUP}` && slices) return { type: 'json', body: { kind: 'APIGroup', apiVersion: 'v1', ...discoveryGroup } };

    let group: string;
    let rest: string[];
    if (segments[0] === 'api' && segments[1] === 'v1') {
      group = '';
      rest = segments.slice(2);
    } else if (slices && segments[0] === 'apis' && segments[1] === DISCOVERY_GROUP && segments[2] === 'v1') {
      group = DISCOVERY_GROUP;
      rest = segments.slice(3);
    } else {
      return undefined;
    }
    const kinds = KINDS.filter((k) => k.group === group);
    const byPlural = (plural: string | undefined) => kinds.find((k) => k.plural === plural);
    if (rest.length === 0) {
      return {
        type: 'json',
        body: {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: group ? `${group}/v1` : 'v1',
          resources: kinds.map((k) => ({ name: k.plural, singularName: k.singular, namespaced: k.namespaced, kind: k.kind, verbs: VERBS, ...(k.shortNames.length ? { shortNames: k.shortNames } : {}) })),
        },
      };
    }
    const [first, second, third, fourth] = rest;
    if (rest.length === 1) {
      const info = byPlural(first);
      return info ? { type: 'collection', scope: { info, namespace: undefined, name: undefined } } : undefined;
    }
    if (rest.length === 2 && second !== undefined) {
      const info = byPlural(first);
      return info && !info.namespaced ? { type: 'object', scope: { info, namespace: undefined, name: second } } : undefined;
    }
    if (first !== 'namespaces' || second === undefined) return undefined;
    const info = byPlural(third);
    if (!info || !info.namespaced) return undefined;
    if (rest.length === 3) return { type: 'collection', scope: { info, namespace: second, name: undefined } };
    if (rest.length === 4 && fourth !== undefined) return { type: 'object', scope: { info, namespace: second, name: fourth } };
    return undefined;
  }
}
