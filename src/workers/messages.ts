/** What the primary thread and its serving workers say to each other (structured-cloned). */
import { deserialize, serialize } from 'node:v8';
import type { Settings } from '../settings/schema.ts';
import type { AnswerDrop, BoundListen, ServingStats } from '../server/serving.ts';
import type { LearnedRoute, RelayReply, Transport } from '../server/handler.ts';
import type { UdpIo } from '../server/udp-batch.ts';
import type { SharedAnswersMemory } from '../server/shared-answers.ts';
import type { FixedAnswer } from '../wire/message.ts';
import { type AnswerScope, GLOBAL_SCOPE, type RoutedData, bareRcode, reviveRoute, routeData } from '../resolve/answer.ts';
import { sharedNames } from '../view/interner.ts';
import { keepBytes } from '../util/kept-bytes.ts';

/** Everything a worker needs to start serving: no view (the primary keeps it, and answers what the worker cannot). */
export interface WorkerStart {
  index: number;
  threads: number;
  settings: Settings;
  ready: boolean;
  /** How UDP datagrams move: the primary chose once for the process. */
  udpIo: UdpIo;
  /** The primary's DNS cookie secret: a cookie any worker minted is good at every other. */
  cookieSecret: Uint8Array;
  /** The primary's seed for question keys: the shared table is looked up by them. */
  questionKeySeed: number;
  /** The fixed answers the primary writes and every thread reads (null: answers are not cached). */
  sharedAnswers: SharedAnswersMemory | null;
}

/**
 * A route to keep, as posted. Most are fixed answers: plain data and one run of bytes, which the
 * channel clones cheaply. Any other is v8-serialized, its answer as RoutedData (its plan as data):
 * that keeps only each Buffer's own bytes, and gives Buffers back.
 */
type PostedRoute = PostedFixed | { serialized: Uint8Array };

/** A fixed answer's route, flat: every object the channel clones costs more than these fields. */
interface PostedFixed extends Omit<FixedAnswer, 'records'> {
  records: Uint8Array;
  zone: string;
  qname: string;
  scope: AnswerScope;
}

/** A relay reply as posted: bytes in ArrayBuffers of their own (transferred). */
export interface PostedReply {
  response: Uint8Array | null;
  zone: string;
  qtype: number;
  qname: string;
  learned: PostedRoute | null;
}

export type ToWorker =
  | { type: 'listen'; listen: BoundListen[] }
  | { type: 'relayed'; id: number; reply: PostedReply }
  | { type: 'drops'; drops: AnswerDrop[] }
  | { type: 'ready' }
  | { type: 'settings'; settings: Settings }
  | { type: 'stats'; id: number }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'listening'; bound: BoundListen[] }
  | { type: 'relay'; id: number; request: Uint8Array; transport: Transport; client: string }
  | { type: 'stats'; id: number; stats: ServingStats }
  | { type: 'stopped' };

/**
 * A copy of `bytes` in an ArrayBuffer of its own, to transfer: posting a Buffer as it is would copy
 * the whole pool slab it may sit in, and transferring that slab would take it from every Buffer in it.
 */
export function ownCopy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** The reply as posted, and the ArrayBuffers to transfer with it. */
export function postedReply(reply: RelayReply): { posted: PostedReply; transfer: ArrayBuffer[] } {
  const response = reply.response === null ? null : ownCopy(reply.response);
  const transfer: ArrayBuffer[] = response === null ? [] : [response.buffer as ArrayBuffer];
  const { learned } = reply;
  let route: PostedRoute | null = null;
  if (learned?.fixed) {
    const { fixed, zone, qname, scope } = learned;
    const records = ownCopy(fixed.records);
    transfer.push(records.buffer as ArrayBuffer);
    route = { rcode: fixed.rcode, authoritative: fixed.authoritative, records, answers: fixed.answers, authority: fixed.authority, additional: fixed.additional, additionalAt: fixed.additionalAt, zone, qname, scope };
  } else if (learned) {
    const serialized = ownCopy(serialize({ ...learned, answer: routeData(learned.answer) }));
    transfer.push(serialized.buffer as ArrayBuffer);
    route = { serialized };
  }
  return { posted: { response, zone: reply.zone, qtype: reply.qtype, qname: reply.qname, learned: route }, transfer };
}

/**
 * A taught route's scope, its strings shared: each posted route arrives with its own copies of
 * them, and a worker keeps up to answerCacheSize routes in a few namespaces. ('service' itself
 * arrived as a new string each time: 60,000 copies in a worker's heap snapshot.) Names that do not
 * exist each have a scope of their own, so the scope objects themselves are not shared.
 */
function sharedScope(scope: AnswerScope): AnswerScope {
  if (scope.scope === 'global') return GLOBAL_SCOPE;
  const namespace = sharedNames.intern(scope.namespace);
  return scope.scope === 'namespace' ? { scope: 'namespace', namespace } : { scope: 'service', namespace, service: scope.service };
}

export function receivedReply(posted: PostedReply): RelayReply {
  const { response, learned } = posted;
  let route: LearnedRoute | null = null;
  if (learned !== null && 'records' in learned) {
    const { rcode, authoritative, records, answers, authority, additional, additionalAt, zone, qname, scope } = learned;
    // Copied: a few dozen bytes, where the transferred ArrayBuffer would be kept whole, with its
    // own allocation, for as long as the route (0.7 KiB each, measured).
    const kept = keepBytes(records);
    route = { answer: bareRcode(rcode), fixed: { rcode, authoritative, records: kept, answers, authority, additional, additionalAt }, zone: sharedNames.intern(zone), qname, scope: sharedScope(scope), placement: null };
  } else if (learned !== null) {
    const data = deserialize(learned.serialized) as Omit<LearnedRoute, 'answer'> & { answer: RoutedData };
    route = { ...data, answer: reviveRoute(data.answer) };
  }
  return { response: response === null ? null : asBuffer(response), zone: posted.zone, qtype: posted.qtype, qname: posted.qname, learned: route };
}

/** The same bytes as a Buffer, not copied. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
