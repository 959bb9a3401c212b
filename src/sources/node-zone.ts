/**
 * Node-local mode: the zone of the node lbdns runs on, from that node's Node object (its
 * `topology.kubernetes.io/zone` label), found by name (NODE_NAME from the downward API's
 * spec.nodeName). Read once: a node's zone is set when it registers. Works on every Kubernetes
 * version, unlike the pod topology labels (KEP-4742, beta in 1.35) a pod would otherwise read.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Settings } from '../settings/schema.ts';
import { ObjectsFileError, readDocuments } from './objects-file.ts';
import { NODE_ZONE_LABELS, nodeZoneOfLabels } from './api-objects.ts';

export const ZONE_LABEL = NODE_ZONE_LABELS[0];

export interface NodeZone {
  node: string;
  /** Null: the Node has no zone label. */
  zone: string | null;
}

export function zoneOfNode(node: unknown): string | null {
  // The same reading as the watched Nodes' (api-objects.ts slimNode).
  return nodeZoneOfLabels((node as { metadata?: { labels?: Record<string, unknown> } } | null)?.metadata?.labels ?? {});
}

/** The v1 Node named `name` in an objects file (a List or documents), or null. Throws ObjectsFileError. */
export function nodeInObjectsFile(path: string, name: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ObjectsFileError(`${path}: cannot read: ${(error as Error).message}`);
  }
  for (const document of readDocuments(text, path)) {
    const items = Array.isArray((document as { items?: unknown } | null)?.items) ? (document as { items: unknown[] }).items : [document];
    for (const item of items) {
      const object = item as { kind?: unknown; metadata?: { name?: unknown } } | null;
      if (object?.kind === 'Node' && object.metadata?.name === name) return object;
    }
  }
  return null;
}

/** Logs what was found, so a zone policy without a zone is never silent. */
export function reportNodeZone(found: NodeZone | null, name: string, log: Logger): void {
  if (found === null) log.warn({ node: name }, 'no Node object for this node: the zone policy has no client zone, and orders as the weights alone');
  else if (found.zone === null) log.warn({ node: name, label: ZONE_LABEL }, 'this node has no zone label: the zone policy has no client zone, and orders as the weights alone');
  else log.info({ node: name, zone: found.zone }, "clients' zone: this node's");
}

export interface NodeZoneLookup {
  /** The zone known at once (from an objects file), else null. */
  zone: string | null;
  stop(): void;
}

/**
 * In node-local mode, the node's zone: from a Node object in the objects file at once, or from
 * the API in the background (`onLater`, once known). Nothing outside node-local mode.
 */
export function lookUpNodeZone(settings: Settings, log: Logger, onLater: (zone: string) => void): NodeZoneLookup {
  const none = { zone: null, stop: () => {} };
  if (!settings.nodeLocal) return none;
  const name = settings.nodeLocal.nodeName ?? process.env.NODE_NAME;
  if (!name) {
    log.warn('node-local mode without nodeLocal.nodeName or NODE_NAME: no Node object to read the zone from');
    return none;
  }
  if (settings.source === 'file' || (settings.source === undefined && settings.objects !== undefined)) {
    if (!settings.objects) return none;
    let node: unknown;
    try {
      node = nodeInObjectsFile(settings.objects, name);
    } catch (error) {
      // The objects source reports the file itself.
      log.warn({ err: (error as Error).message }, 'cannot look for this node in the objects file');
      return none;
    }
    const found = node === null ? null : { node: name, zone: zoneOfNode(node) };
    reportNodeZone(found, name, log);
    return { zone: found?.zone ?? null, stop: () => {} };
  }
  let stopped = false;
  // Loaded only when used, as the Kubernetes source is.
  void import('./kubernetes/node.ts')
    .then(({ readNode }) => readNode(settings, name, log, () => stopped))
    .then(
      (node) => {
        if (stopped) return;
        const found = node === null ? null : { node: name, zone: zoneOfNode(node) };
        reportNodeZone(found, name, log);
        if (found?.zone) onLater(found.zone);
      },
      (error: Error) => log.error({ err: error.message }, "cannot read this node's zone"),
    );
  return { zone: null, stop: () => (stopped = true) };
}
