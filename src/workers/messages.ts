/** What the primary thread and its serving workers say to each other (structured-cloned). */
import { deserialize, serialize } from 'node:v8';
import type { Settings } from '../settings/schema.ts';
import type { AnswerDrop, BoundListen, ServingStats } from '../server/serving.ts';
import type { LearnedRoute, RelayReply, Transport } from '../server/handler.ts';
import type { UdpIo } from '../server/udp-batch.ts';
import { type RoutedData, reviveRoute, routeData } from '../resolve/answer.ts';

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
}

/** A relay reply as posted: bytes of their own (transferred), the route to keep serialized with its plan as data. */
export interface PostedReply {
  response: Uint8Array | null;
  zone: string;
  qtype: number;
  qname: string;
  /** v8-serialized LearnedRoute, its answer as RoutedData: Buffers keep only their own bytes, and arrive as Buffers. */
  learned: Uint8Array | null;
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
  const learned = reply.learned === null ? null : ownCopy(serialize({ ...reply.learned, answer: routeData(reply.learned.answer) }));
  const transfer = [response, learned].flatMap((bytes) => (bytes === null ? [] : [bytes.buffer as ArrayBuffer]));
  return { posted: { response, zone: reply.zone, qtype: reply.qtype, qname: reply.qname, learned }, transfer };
}

export function receivedReply(posted: PostedReply): RelayReply {
  const { response, learned } = posted;
  let route: LearnedRoute | null = null;
  if (learned !== null) {
    const data = deserialize(learned) as Omit<LearnedRoute, 'answer'> & { answer: RoutedData };
    route = { ...data, answer: reviveRoute(data.answer) };
  }
  return { response: response === null ? null : asBuffer(response), zone: posted.zone, qtype: posted.qtype, qname: posted.qname, learned: route };
}

/** The same bytes as a Buffer, not copied. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
