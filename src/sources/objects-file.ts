/**
 * The objects-file source: Kubernetes objects as `kubectl get … -o yaml` prints them (a List),
 * multi-document YAML, or JSON. The file is re-read when it changes or is replaced by rename,
 * once it has stopped changing, and away from the serving thread.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { parseAllDocuments } from 'yaml';
import type { Logger } from 'pino';
import { ObjectError, describeObject, slimObject } from './api-objects.ts';
import type { ClusterObjects } from '../view/types.ts';
import type { ClusterView } from '../view/cluster-view.ts';
import { watchFile } from '../util/watch-file.ts';
import { type FileRead, SettleTimer, readWithSignature } from './stable-file.ts';
import { identityOf, upsertsOf } from './objects-diff.ts';
import type { FromParser, ParserStart, ToParser } from './objects-file-messages.ts';

export class ObjectsFileError extends Error {}

export interface ParsedObjects {
  objects: ClusterObjects;
  /** Kinds that were skipped, with how many of each. */
  skippedKinds: Map<string, number>;
  /** Objects of served kinds that could not be read: the first MAX_SKIPPED_LISTED, described. */
  skippedObjects: string[];
  /** How many such objects there were in all. */
  skippedCount: number;
}

/** Unreadable objects named one by one per version; beyond that only counted. */
export const MAX_SKIPPED_LISTED = 20;

/**
 * The documents of a file. JSON (what `kubectl -o json` prints) takes JSON.parse: the same
 * meaning as reading it as YAML, at a fraction of the time and memory for large clusters.
 */
export function readDocuments(text: string, fileName: string): unknown[] {
  const start = text.trimStart()[0];
  if (start === '{' || start === '[') {
    try {
      return [JSON.parse(text)];
    } catch {
      // Not JSON alone: flow-style YAML documents start with a brace too; YAML says what is wrong.
    }
  }
  const documents = parseAllDocuments(text);
  return (Array.isArray(documents) ? documents : [documents]).map((document, index) => {
    if (document.errors.length > 0) throw new ObjectsFileError(`${fileName}: document ${index + 1}: not YAML or JSON: ${document.errors[0]?.message}`);
    // Anchors and aliases are fine in an operator's file; the default cap (100) is for hostile input.
    return document.toJS({ maxAliasCount: 100_000 }) as unknown;
  });
}

/**
 * The objects of a file. A file that is not YAML or JSON throws (there is no telling what was
 * meant); one object that is malformed is skipped and described, as the API source skips one,
 * and the rest of the cluster is served.
 */
export function parseObjectsText(text: string, fileName: string): ParsedObjects {
  const objects: ClusterObjects = { namespaces: [], services: [], endpointSlices: [], legacyEndpoints: [], pods: [] };
  const parsed: ParsedObjects = { objects, skippedKinds: new Map(), skippedObjects: [], skippedCount: 0 };
  readDocuments(text, fileName).forEach((content, documentIndex) => {
    const where = `${fileName}: document ${documentIndex + 1}`;
    if (content === null || content === undefined) return;
    const isList = typeof content === 'object' && !Array.isArray(content) && Array.isArray((content as { items?: unknown }).items);
    const items: unknown[] = isList ? (content as { items: unknown[] }).items : [content];
    items.forEach((item, itemIndex) => {
      let slim;
      try {
        slim = slimObject(item);
      } catch (error) {
        if (!(error instanceof ObjectError)) throw error;
        const position = isList ? `, items[${itemIndex}]` : '';
        if (parsed.skippedCount++ < MAX_SKIPPED_LISTED) parsed.skippedObjects.push(`${where}${position} (${describeObject(item)}): ${error.message}`);
        return;
      }
      if (slim === null) {
        const kind = String((item as { kind: string }).kind);
        parsed.skippedKinds.set(kind, (parsed.skippedKinds.get(kind) ?? 0) + 1);
        return;
      }
      switch (slim.kind) {
        case 'Namespace':
          objects.namespaces.push(slim.record);
          break;
        case 'Service':
          objects.services.push(slim.record);
          break;
        case 'EndpointSlice':
          objects.endpointSlices.push(slim.record);
          break;
        case 'Endpoints':
          objects.legacyEndpoints.push(slim.record);
          break;
        case 'Pod':
          objects.pods.push(slim.record);
          break;
        case 'Node':
          (objects.nodes ??= []).push(slim.record);
          break;
      }
    });
  });
  return parsed;
}

/**
 * Throws when a version holds nothing to serve. A cluster always has Services (`default/kubernetes`
 * at least); an empty file is one being written, or a command that failed, and serving it would
 * turn every name into NXDOMAIN.
 */
export function requireServedObjects(parsed: ParsedObjects, fileName: string): void {
  const o = parsed.objects;
  if (o.namespaces.length + o.services.length + o.endpointSlices.length + o.legacyEndpoints.length + o.pods.length > 0) return;
  const why = parsed.skippedCount > 0 ? `each of its ${parsed.skippedCount} objects of a served kind is unreadable` : 'it holds no Namespace, Service, EndpointSlice, Endpoints or Pod object (empty, or still being written?)';
  throw new ObjectsFileError(`${fileName}: nothing to serve: ${why}`);
}

export function readObjectsFile(path: string): ParsedObjects {
  return parseObjectsText(readText(path), path);
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ObjectsFileError(`${path}: cannot read: ${(error as Error).message}`);
  }
}

/** One line per unreadable object (up to MAX_SKIPPED_LISTED), one per kind lbdns does not serve. */
function logSkipped(log: Logger, path: string, skippedKinds: Iterable<[string, number]>, skippedObjects: string[], skippedCount: number): void {
  for (const [kind, count] of skippedKinds) log.info({ file: path, kind, count }, 'skipping objects of a kind lbdns does not serve');
  for (const description of skippedObjects) log.warn({ file: path, err: description }, 'skipping an object lbdns cannot read');
  if (skippedCount > skippedObjects.length) log.warn({ file: path, count: skippedCount - skippedObjects.length }, 'skipping more objects lbdns cannot read');
}

export interface ObjectsFileSource {
  close(): void;
}

/**
 * Loads the file now, in this thread (nothing is served yet; throwing if it is unreadable, not
 * YAML or JSON, or holds nothing to serve: there is no previous view to keep), then keeps the
 * view up to date with every good new version through an ObjectsFileReloader.
 */
export function watchObjectsFile(path: string, view: ClusterView, log: Logger): ObjectsFileSource {
  // Made first: its thread loads the parser's modules while this one loads the file.
  const reloader = new ObjectsFileReloader(path, view, log);
  let text: string;
  try {
    text = readText(path);
    const parsed = parseObjectsText(text, path);
    logSkipped(log, path, parsed.skippedKinds, parsed.skippedObjects, parsed.skippedCount);
    requireServedObjects(parsed, path);
    const o = parsed.objects;
    log.info({ file: path, namespaces: o.namespaces.length, services: o.services.length, endpointSlices: o.endpointSlices.length, endpoints: o.legacyEndpoints.length, pods: o.pods.length }, 'objects file loaded');
    view.replaceAll(parsed.objects);
  } catch (error) {
    reloader.close();
    throw error;
  }
  reloader.loaded(text);
  const watcher = watchFile(path, () => reloader.changed(), (message) => log.warn({ file: path, err: message }, 'objects file watch failed; polling only'));
  return {
    close: () => {
      watcher.close();
      reloader.close();
    },
  };
}

const PARSER_URL = new URL(import.meta.url.endsWith('.ts') ? './objects-file-worker.ts' : './objects-file-worker.js', import.meta.url);

/**
 * Records and endpoints' worth of events per chunk: what the serving thread takes in (structured
 * clone) and applies between two turns of its event loop, a few milliseconds on a large cluster.
 */
const CHUNK_WEIGHT = 1000;

/** 32 KiB: the largest file loaded in the serving thread while the parser thread starts. */
const LOAD_HERE_MAX_BYTES = 32 * 1024;

/** The parser thread; a new one replaces one that died. It answers in the order it is asked. */
class ParserThread {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (reply: FromParser) => void; reject: (error: Error) => void }>();
  private readonly path: string;
  private readonly onExit: (reason: string) => void;

  constructor(path: string, onExit: (reason: string) => void) {
    this.path = path;
    this.onExit = onExit;
    this.spawn();
  }

  get alive(): boolean {
    return this.worker !== null;
  }

  spawn(): void {
    const worker = new Worker(PARSER_URL, { workerData: { path: this.path } satisfies ParserStart, name: 'lbdns-objects-parser' });
    // It only ever works for the source: it must not keep the process alive on its own.
    worker.unref();
    worker.on('message', (reply: FromParser) => {
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      waiter?.resolve(reply);
    });
    const gone = (reason: string): void => {
      if (this.worker !== worker) return;
      this.worker = null;
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`the objects file parser ${reason}`));
      this.waiting.clear();
      this.onExit(reason);
    };
    worker.on('error', (error) => gone(`failed: ${error.message}`));
    worker.on('exit', (code) => gone(`exited with code ${code}`));
    this.worker = worker;
  }

  ask(message: DistributiveOmit<ToParser, 'id'>): Promise<FromParser> {
    const worker = this.worker;
    if (worker === null) return Promise.reject(new Error('the objects file parser is not running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ ...message, id } as ToParser);
    });
  }

  close(): void {
    const worker = this.worker;
    this.worker = null;
    void worker?.terminate();
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

/**
 * Keeps the view up to date with the file without stalling answers: a change is read once the
 * file has settled (SettleTimer), parsed and compared in the parser thread, and applied as the
 * events it differs by, a chunk at a time, the event loop turning between chunks. One version
 * is applied at a time: a change that arrives meanwhile is read once the running one is in.
 */
export class ObjectsFileReloader {
  private readonly path: string;
  private readonly view: ClusterView;
  private readonly log: Logger;
  private readonly parser: ParserThread;
  private readonly settle: SettleTimer;
  private loading = false;
  private changedWhileLoading = false;
  private closed = false;
  /**
   * The text the view was last loaded from whole, while the parser thread has not taken it in
   * yet (null once it has): until then a small new version is loaded here (see loadHere).
   */
  private heldHere: string | null = null;
  private lastBaseline: Promise<unknown> | null = null;

  constructor(path: string, view: ClusterView, log: Logger) {
    this.path = path;
    this.view = view;
    this.log = log;
    this.parser = new ParserThread(path, (reason) => {
      if (!this.closed) this.log.error({ file: path, reason }, 'objects file parser stopped; a new one starts at the next change');
    });
    this.settle = new SettleTimer(path, (signature) => void this.load(signature));
  }

  /** The view was loaded whole from this text: new versions are compared with it. */
  loaded(text: string): void {
    this.heldHere = text;
    const baseline = this.parser.ask({ type: 'baseline', text });
    this.lastBaseline = baseline;
    baseline.then(
      () => {
        if (this.lastBaseline !== baseline) return;
        this.heldHere = null;
        this.log.debug({ file: this.path }, 'objects file parser thread ready');
      },
      () => {},
    );
  }

  /** A watch event: the file may have changed. */
  changed(): void {
    if (this.closed) return;
    if (this.loading) this.changedWhileLoading = true;
    else this.settle.changed();
  }

  close(): void {
    this.closed = true;
    this.settle.close();
    this.parser.close();
  }

  private async load(settled: string): Promise<void> {
    if (this.closed) return;
    this.loading = true;
    const started = performance.now();
    try {
      if (!this.parser.alive) await this.restartParser();
      if (this.heldHere !== null && this.loadHere(settled, started)) return;
      const reply = await this.parser.ask({ type: 'load' });
      if (reply.type === 'unreadable') {
        this.log.error({ file: this.path, err: reply.error }, 'objects file unreadable; keeping the previous view');
        return;
      }
      if (reply.type !== 'unchanged' && reply.type !== 'rejected' && reply.type !== 'parsed') throw new Error(`the objects file parser answered ${reply.type} to load`);
      if (reply.signature !== settled) {
        // Written to again between settling and the read: what was read may be half a file.
        this.changedWhileLoading = true;
        return;
      }
      if (reply.type === 'unchanged') return;
      if (reply.type === 'rejected') {
        logSkipped(this.log, this.path, [], reply.skippedObjects, reply.skippedCount);
        this.log.error({ file: this.path, err: reply.error }, 'objects file rejected; keeping the previous view');
        return;
      }
      logSkipped(this.log, this.path, reply.skippedKinds, reply.skippedObjects, reply.skippedCount);
      let longestChunkMs = 0;
      for (let done = false; !done && !this.closed; ) {
        const chunk = await this.parser.ask({ type: 'next', weight: CHUNK_WEIGHT });
        if (chunk.type !== 'events') throw new Error(`the objects file parser answered ${chunk.type} to next`);
        const applying = performance.now();
        this.view.applyBatch(chunk.events);
        longestChunkMs = Math.max(longestChunkMs, performance.now() - applying);
        done = chunk.done;
      }
      const { counts, upserts, deletes } = reply;
      this.log.info({ file: this.path, ...counts, upserts, deletes, ms: Math.round(performance.now() - started), longestChunkMs: Math.round(longestChunkMs) }, 'objects file reloaded');
    } catch (error) {
      // The parser thread died (a bug, or out of memory on a huge file): not retried until the
      // file changes again, so that a file that kills it cannot keep a thread busy dying.
      this.log.error({ file: this.path, err: (error as Error).message }, 'objects file reload failed; keeping the view as it is');
    } finally {
      this.loading = false;
      if (this.changedWhileLoading && !this.closed) {
        this.changedWhileLoading = false;
        this.settle.changed();
      }
    }
  }

  /**
   * A version loaded whole in this thread, as at startup, while the parser thread is still
   * starting (loading the parser's modules takes it a few hundred milliseconds, seconds on a busy
   * machine): an edit right after startup still shows within a second. Only a file of at most
   * LOAD_HERE_MAX_BYTES (tens of milliseconds to parse); a larger one waits for the thread.
   * Returns false when the file is too large to load here.
   */
  private loadHere(settled: string, started: number): boolean {
    let read: FileRead | null;
    try {
      read = readWithSignature(this.path, LOAD_HERE_MAX_BYTES);
    } catch (error) {
      this.log.error({ file: this.path, err: `${this.path}: cannot read: ${(error as Error).message}` }, 'objects file unreadable; keeping the previous view');
      return true;
    }
    if (read === null) return false;
    const { bytes, signature } = read;
    if (signature !== settled) {
      this.changedWhileLoading = true;
      return true;
    }
    const text = bytes.toString('utf8');
    if (text === this.heldHere) return true;
    let parsed: ParsedObjects;
    try {
      parsed = parseObjectsText(text, this.path);
      logSkipped(this.log, this.path, parsed.skippedKinds, parsed.skippedObjects, parsed.skippedCount);
      requireServedObjects(parsed, this.path);
    } catch (error) {
      if (!(error instanceof ObjectsFileError)) throw error;
      this.log.error({ file: this.path, err: error.message }, 'objects file rejected; keeping the previous view');
      return true;
    }
    this.view.replaceAll(parsed.objects);
    this.loaded(text);
    const o = parsed.objects;
    this.log.info({ file: this.path, namespaces: o.namespaces.length, services: o.services.length, endpointSlices: o.endpointSlices.length, endpoints: o.legacyEndpoints.length, pods: o.pods.length, ms: Math.round(performance.now() - started) }, 'objects file reloaded');
    return true;
  }

  /**
   * A parser thread that replaces a dead one knows nothing of the view: it is told which records
   * the view holds, so that the next version upserts every record and deletes those it lacks.
   */
  private async restartParser(): Promise<void> {
    this.parser.spawn();
    const identities = upsertsOf(this.view.snapshot()).map(identityOf);
    this.heldHere = null;
    const reply = await this.parser.ask({ type: 'hold', identities });
    if (reply.type !== 'held') throw new Error(`the objects file parser answered ${reply.type} to hold`);
  }
}
