/**
 * A new version of the objects file as the smallest set of view events: an upsert for each record
 * that is new or differs, a delete for each that is gone, nothing for the (usually many) that did
 * not change. What a version held is kept as one fingerprint per record, so comparing costs a hash
 * of each new record and no copy of the old ones.
 */
import type { ViewEvent } from '../view/cluster-view.ts';
import { type ClusterObjects, WATCHED_KINDS, type WatchedKind } from '../view/types.ts';
import { contentDigest } from '../util/content-digest.ts';

/** Record identity → fingerprint of its content ('' when unknown: it is then always upserted). */
export type Fingerprints = Map<string, string>;

/** Upserts in this order (namespaces before what lives in them), deletes in the reverse one. */
const KIND_ORDER: readonly WatchedKind[] = WATCHED_KINDS;

/**
 * What the view replaces on an upsert and removes on a delete, as one string: the kind, the
 * namespace and the name the view keys the record by (an Endpoints object by its Service's name).
 */
export function identityOf(event: ViewEvent): string {
  if (event.op === 'delete') return 'namespace' in event ? JSON.stringify([event.kind, event.namespace, event.name]) : JSON.stringify([event.kind, '', event.name]);
  switch (event.kind) {
    case 'Namespace':
    case 'Node':
      return JSON.stringify([event.kind, '', event.record.name]);
    case 'Endpoints':
      return JSON.stringify([event.kind, event.record.namespace, event.record.serviceName]);
    default:
      return JSON.stringify([event.kind, event.record.namespace, event.record.name]);
  }
}

function deleteOf(identity: string): ViewEvent {
  const [kind, namespace, name] = JSON.parse(identity) as [WatchedKind, string, string];
  return kind === 'Namespace' || kind === 'Node' ? { op: 'delete', kind, name } : { op: 'delete', kind, namespace, name };
}

/** Slim records are built field by field in a fixed order, so equal records serialize equally. */
function fingerprint(record: unknown): string {
  return contentDigest(JSON.stringify(record));
}

/** Every record of a version as the upsert that puts it in the view, in KIND_ORDER. */
export function upsertsOf(objects: ClusterObjects): ViewEvent[] {
  return [
    ...objects.namespaces.map((record): ViewEvent => ({ op: 'upsert', kind: 'Namespace', record })),
    ...(objects.nodes ?? []).map((record): ViewEvent => ({ op: 'upsert', kind: 'Node', record })),
    ...objects.services.map((record): ViewEvent => ({ op: 'upsert', kind: 'Service', record })),
    ...objects.endpointSlices.map((record): ViewEvent => ({ op: 'upsert', kind: 'EndpointSlice', record })),
    ...objects.legacyEndpoints.map((record): ViewEvent => ({ op: 'upsert', kind: 'Endpoints', record })),
    ...objects.pods.map((record): ViewEvent => ({ op: 'upsert', kind: 'Pod', record })),
  ];
}

export function fingerprintsOf(objects: ClusterObjects): Fingerprints {
  const fingerprints: Fingerprints = new Map();
  for (const event of upsertsOf(objects)) if (event.op === 'upsert') fingerprints.set(identityOf(event), fingerprint(event.record));
  return fingerprints;
}

export interface ObjectsDiff {
  /** Upserts first (kind by kind), then deletes: a name in both versions never disappears meanwhile. */
  events: ViewEvent[];
  upserts: number;
  deletes: number;
  /** What the view holds once every event is applied. */
  next: Fingerprints;
}

/**
 * The events that turn a view holding `previous` into one holding `objects`. Two records with
 * one identity in a file: the later one counts, as when the view is loaded whole.
 */
export function diffObjects(previous: Fingerprints, objects: ClusterObjects): ObjectsDiff {
  const latest = new Map<string, ViewEvent>();
  for (const event of upsertsOf(objects)) {
    const identity = identityOf(event);
    latest.delete(identity);
    latest.set(identity, event);
  }
  const next: Fingerprints = new Map();
  const upserts: ViewEvent[][] = KIND_ORDER.map(() => []);
  for (const [identity, event] of latest) {
    if (event.op !== 'upsert') continue;
    const print = fingerprint(event.record);
    next.set(identity, print);
    if (previous.get(identity) !== print) upserts[KIND_ORDER.indexOf(event.kind)]!.push(event);
  }
  const deletes: ViewEvent[][] = KIND_ORDER.map(() => []);
  for (const identity of previous.keys()) {
    if (next.has(identity)) continue;
    const event = deleteOf(identity);
    deletes[KIND_ORDER.indexOf(event.kind)]!.push(event);
  }
  const upsertEvents = upserts.flat();
  const deleteEvents = deletes.reverse().flat();
  return { events: [...upsertEvents, ...deleteEvents], upserts: upsertEvents.length, deletes: deleteEvents.length, next };
}

/** How much applying an event costs the view, about: one per record, one per endpoint. */
export function weightOf(event: ViewEvent): number {
  if (event.op === 'upsert' && (event.kind === 'EndpointSlice' || event.kind === 'Endpoints')) return 1 + event.record.endpoints.length;
  return 1;
}
