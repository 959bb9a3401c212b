/**
 * The objects-file source: Kubernetes objects as `kubectl get … -o yaml` prints them (a List),
 * multi-document YAML, or JSON. The file is re-read when it changes or is replaced by rename,
 * once it has stopped changing, and away from the serving thread.
 */
import { readFileSync } from 'node:fs';
import { serialize } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { parseAllDocuments } from 'yaml';
import type { Logger } from 'pino';
import { ObjectError, describeObject, slimObject } from './api-objects.ts';
import type { ClusterObjects } from '../view/types.ts';
import type { ClusterView } from '../view/cluster-view.ts';
import { watchFile } from '../util/watch-file.ts';
import { type FileRead, SettleTimer, readWithSignature } from './stable-file.ts';
import { identityOf, upsertsOf } from './objects-diff.ts';
import type { FromParser, HeldVersion, ParserStart, ToParser } from './objects-file-messages.ts';
import { contentDigest } from '../util/content-digest.ts';

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
  const text = readText(path);
  const parsed = parseObjectsText(text, path);
  logSkipped(log, path, parsed.skippedKinds, parsed.skippedObjects, parsed.skippedCount);
  requireServedObjects(parsed, path);
  const o = parsed.objects;
  log.info({ file: path, namespaces: o.namespaces.length, services: o.services.length, endpointSlices: o.endpointSlices.length, endpoints: o.legacyEndpoints.length, pods: o.pods.length }, 'objects file loaded');
  view.replaceAll(parsed.objects);
  const reloader = new ObjectsFileReloader(path, view, log);
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

/**
 * 32 KiB: the largest file loaded whole in the serving thread (tens of milliseconds to parse);
 * starting a parser thread for it would take longer than that.
 */
const LOAD_HERE_MAX_BYTES = 32 * 1024;

/** A parser thread, for one job. It answers in the order it is asked. */
class ParserThread {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (reply: FromParser) => void; reject: (error: Error) => void }>();
  private readonly onExit: (reason: string) => void;

  constructor(start: ParserStart, onExit: (reason: string) => void) {
    this.onExit = onExit;
    // A young generation of 8 MB, not the default that grows to 64 MB while a large file is parsed:
    // at 100,000 endpoints the process peaks 55 MB lower (390 → 336 MB RSS), for a few hundred
    // milliseconds more of parsing (1.2 → 1.2–1.7 s) in a thread that answers nothing.
    const worker = new Worker(PARSER_URL, { workerData: start, name: 'lbdns-objects-parser', resourceLimits: { maxYoungGenerationSizeMb: 8 } });
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
 * file has settled (SettleTimer); a small file is loaded whole here, a larger one is parsed and
 * compared in a parser thread started for that one version, and applied as the events it differs
 * by, a chunk at a time, the event loop turning between chunks. One version is applied at a time:
 * a change that arrives meanwhile is read once the running one is in.
 *
 * Between two versions no parser thread runs: what the view holds (HeldVersion) is kept here, as
 * one fingerprint per record, and handed to the next thread. The text the view was loaded from
 * whole (at startup) is given to a thread at once to be fingerprinted, so it is not kept here.
 */
export class ObjectsFileReloader {
  private readonly path: string;
  private readonly view: ClusterView;
  private readonly log: Logger;
  private readonly settle: SettleTimer;
  private readonly loadHereMaxBytes: number;
  private loading = false;
  private changedWhileLoading = false;
  private closed = false;
  /** What the view holds; null while a parser thread has it (see inThread). */
  private held: HeldVersion | null = null;
  /** The parser thread of the job under way, if any. */
  private thread: ParserThread | null = null;

  /** `loadHereMaxBytes`: files up to this size are loaded here (tests set 0 to send every version to a thread). */
  constructor(path: string, view: ClusterView, log: Logger, options: { loadHereMaxBytes?: number } = {}) {
    this.path = path;
    this.view = view;
    this.log = log;
    this.loadHereMaxBytes = options.loadHereMaxBytes ?? LOAD_HERE_MAX_BYTES;
    this.settle = new SettleTimer(path, (signature) => void this.load(signature));
  }

  /**
   * The view was loaded whole from this text: new versions are compared with it. A large text is
   * handed to a parser thread now, to be fingerprinted away from the serving thread and not kept here.
   */
  loaded(text: string): void {
    this.held = { text };
    if (text.length <= this.loadHereMaxBytes) return;
    const started = performance.now();
    void this.job(async () => {
      await this.inThread(async () => {});
      this.log.debug({ file: this.path, ms: Math.round(performance.now() - started) }, 'objects file fingerprinted');
    });
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
    this.thread?.close();
  }

  private load(settled: string): Promise<void> {
    const started = performance.now();
    return this.job(async () => {
      if (this.loadHere(settled, started)) return;
      await this.inThread((thread) => this.loadInThread(thread, settled, started));
    });
  }

  /** Runs one job at a time; a change seen meanwhile is read once it is over. Logs what fails. */
  private async job(work: () => Promise<void>): Promise<void> {
    if (this.closed) return;
    if (this.loading) {
      this.changedWhileLoading = true;
      return;
    }
    this.loading = true;
    try {
      await work();
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
   * Runs `work` with a parser thread started for it, holding what the view holds, and takes back
   * what the view holds once it is done; the thread is then ended, its heap returned. When the
   * thread dies or the work fails midway, only the view itself says what it holds: its records'
   * identities, contents unknown, so the next version upserts every record and deletes the rest.
   */
  private async inThread(work: (thread: ParserThread) => Promise<void>): Promise<void> {
    const held = this.held ?? this.heldByView();
    this.held = null;
    const thread = new ParserThread({ path: this.path, held }, (reason) => {
      if (!this.closed) this.log.error({ file: this.path, reason }, 'objects file parser stopped; a new one starts at the next change');
    });
    this.thread = thread;
    try {
      await work(thread);
      if (this.closed) return;
      const reply = await thread.ask({ type: 'finish' });
      if (reply.type !== 'held') throw new Error(`the objects file parser answered ${reply.type} to finish`);
      this.held = reply.held;
    } finally {
      this.held ??= this.heldByView();
      thread.close();
      if (this.thread === thread) this.thread = null;
    }
  }

  private heldByView(): HeldVersion {
    return { digest: '', fingerprints: serialize(new Map(upsertsOf(this.view.snapshot()).map((event) => [identityOf(event), '']))) };
  }

  private async loadInThread(thread: ParserThread, settled: string, started: number): Promise<void> {
    const reply = await thread.ask({ type: 'load' });
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
      const chunk = await thread.ask({ type: 'next', weight: CHUNK_WEIGHT });
      if (chunk.type !== 'events') throw new Error(`the objects file parser answered ${chunk.type} to next`);
      const applying = performance.now();
      this.view.applyBatch(chunk.events);
      longestChunkMs = Math.max(longestChunkMs, performance.now() - applying);
      done = chunk.done;
    }
    const { counts, upserts, deletes } = reply;
    this.log.info({ file: this.path, ...counts, upserts, deletes, ms: Math.round(performance.now() - started), longestChunkMs: Math.round(longestChunkMs) }, 'objects file reloaded');
  }

  /**
   * A version loaded whole in this thread, as at startup, when the file is small (at most
   * loadHereMaxBytes: tens of milliseconds to parse, less than starting a thread takes, seconds
   * on a busy machine): an edit shows within a second. Returns false when the file is too large
   * to load here (a parser thread does it).
   */
  private loadHere(settled: string, started: number): boolean {
    let read: FileRead | null;
    try {
      read = readWithSignature(this.path, this.loadHereMaxBytes);
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
    const held = this.held;
    if (held !== null && ('text' in held ? text === held.text : contentDigest(bytes) === held.digest)) return true;
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
    this.held = { text };
    const o = parsed.objects;
    this.log.info({ file: this.path, namespaces: o.namespaces.length, services: o.services.length, endpointSlices: o.endpointSlices.length, endpoints: o.legacyEndpoints.length, pods: o.pods.length, ms: Math.round(performance.now() - started) }, 'objects file reloaded');
    return true;
  }
}
