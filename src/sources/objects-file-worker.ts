/**
 * The objects file's parser thread: reads, parses and slims each new version of the file away
 * from the thread that answers queries (a 10 MB file costs about a second of CPU), compares it with
 * the version the view holds, and hands the differing records over in bounded chunks, one per
 * request, so that the serving thread never has more than one chunk to take in at a time.
 * It lives for one job: started with what the view holds, it hands that back updated ('finish')
 * and is ended, so the heap a parse grew (hundreds of MB for a large file) goes back to the system.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { deserialize, serialize } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { ObjectsFileError, parseObjectsText, requireServedObjects, type ParsedObjects } from './objects-file.ts';
import { diffObjects, fingerprintsOf, weightOf, type Fingerprints } from './objects-diff.ts';
import { type FileRead, readWithSignature } from './stable-file.ts';
import type { FingerprintedVersion, FromParser, ParserStart, ToParser } from './objects-file-messages.ts';
import type { ViewEvent } from '../view/cluster-view.ts';
import { contentDigest } from '../util/content-digest.ts';

const start = workerData as ParserStart;
const port = parentPort!;
const send = (message: FromParser): void => port.postMessage(message);

/** What the view holds, serialized (SerializedVersion), its bytes handed over rather than copied. */
function sendHeld(id: number): void {
  // In an ArrayBuffer of exactly its bytes, to transfer.
  const fingerprints = new Uint8Array(serialize(held.fingerprints));
  port.postMessage({ type: 'held', id, held: { digest: held.digest, fingerprints } } satisfies FromParser, [fingerprints.buffer as ArrayBuffer]);
}

/**
 * Below the serving threads: where cores are few and busy (two, in the manifests), the kernel
 * gives the CPU to answers first and to a reload's parsing after. Linux sets a nice value per
 * thread, found by its id; elsewhere, or if refused, parsing keeps the normal priority.
 */
function lowerThisThreadsPriority(): void {
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(threadId) && threadId > 0) setPriority(threadId, 10);
  } catch {
    // Not Linux, or not allowed.
  }
}
lowerThisThreadsPriority();

/** What the view holds: the file's digest and each record's fingerprint. */
let held: FingerprintedVersion = 'text' in start.held ? { digest: '', fingerprints: new Map() } : { digest: start.held.digest, fingerprints: deserialize(start.held.fingerprints) as Fingerprints };
/**
 * A text the view holds, not fingerprinted yet: done at the first load (compared with it) or when
 * the job finishes, so the serving thread need not spend the time, nor keep the text.
 */
let heldText: string | null = 'text' in start.held ? start.held.text : null;

function fingerprintHeldText(): void {
  if (heldText === null) return;
  held = { digest: contentDigest(heldText), fingerprints: fingerprintsOf(parseObjectsText(heldText, start.path).objects) };
  heldText = null;
}

/** The version being handed over: the rest of its events, and what the view holds after them. */
let pending: { events: ViewEvent[]; at: number; digest: string; fingerprints: Fingerprints } | null = null;

function load(id: number): FromParser {
  pending = null;
  fingerprintHeldText();
  let read: FileRead;
  try {
    read = readWithSignature(start.path);
  } catch (error) {
    return { type: 'unreadable', id, error: `${start.path}: cannot read: ${(error as Error).message}` };
  }
  const { bytes, signature } = read;
  const digest = contentDigest(bytes);
  if (digest === held.digest) return { type: 'unchanged', id, signature };
  let parsed: ParsedObjects;
  try {
    parsed = parseObjectsText(bytes.toString('utf8'), start.path);
  } catch (error) {
    if (!(error instanceof ObjectsFileError)) throw error;
    return { type: 'rejected', id, signature, error: error.message, skippedObjects: [], skippedCount: 0 };
  }
  try {
    requireServedObjects(parsed, start.path);
  } catch (error) {
    if (!(error instanceof ObjectsFileError)) throw error;
    return { type: 'rejected', id, signature, error: error.message, skippedObjects: parsed.skippedObjects, skippedCount: parsed.skippedCount };
  }
  const diff = diffObjects(held.fingerprints, parsed.objects);
  pending = { events: diff.events, at: 0, digest, fingerprints: diff.next };
  const o = parsed.objects;
  return {
    type: 'parsed',
    id,
    signature,
    counts: { namespaces: o.namespaces.length, services: o.services.length, endpointSlices: o.endpointSlices.length, endpoints: o.legacyEndpoints.length, pods: o.pods.length },
    skippedKinds: [...parsed.skippedKinds],
    skippedObjects: parsed.skippedObjects,
    skippedCount: parsed.skippedCount,
    upserts: diff.upserts,
    deletes: diff.deletes,
  };
}

/** The next chunk of events; with the last one, the new version becomes what the view holds. */
function next(id: number, weight: number): FromParser {
  if (pending === null) return { type: 'events', id, events: [], done: true };
  const events: ViewEvent[] = [];
  let taken = 0;
  while (pending.at < pending.events.length && (events.length === 0 || taken + weightOf(pending.events[pending.at]!) <= weight)) {
    const event = pending.events[pending.at++]!;
    taken += weightOf(event);
    events.push(event);
  }
  const done = pending.at >= pending.events.length;
  if (done) {
    held = { digest: pending.digest, fingerprints: pending.fingerprints };
    pending = null;
  }
  return { type: 'events', id, events, done };
}

port.on('message', (message: ToParser) => {
  switch (message.type) {
    case 'load':
      return send(load(message.id));
    case 'next':
      return send(next(message.id, message.weight));
    case 'finish':
      fingerprintHeldText();
      pending = null;
      return sendHeld(message.id);
  }
});
