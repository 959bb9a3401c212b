/**
 * The objects-file source: Kubernetes objects as `kubectl get … -o yaml` prints them (a List),
 * multi-document YAML, or JSON. The file is re-read when it changes or is replaced by rename.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { Logger } from 'pino';
import { ObjectError, describeObject, slimObject } from './api-objects.ts';
import type { ClusterObjects } from '../view/types.ts';
import { watchFile } from '../util/watch-file.ts';

export class ObjectsFileError extends Error {}

export interface ParsedObjects {
  objects: ClusterObjects;
  /** Kinds that were skipped, with how many of each. */
  skippedKinds: Map<string, number>;
}

/**
 * The documents of a file. JSON (what `kubectl -o json` prints) takes JSON.parse: the same
 * meaning as reading it as YAML, at a fraction of the time and memory for large clusters.
 */
function readDocuments(text: string, fileName: string): unknown[] {
  const start = text.trimStart()[0];
  if (start === '{' || start === '[') {
    try {
      return [JSON.parse(text)];
    } catch (error) {
      throw new ObjectsFileError(`${fileName}: document 1: not YAML or JSON: ${(error as Error).message}`);
    }
  }
  const documents = parseAllDocuments(text);
  return (Array.isArray(documents) ? documents : [documents]).map((document, index) => {
    if (document.errors.length > 0) throw new ObjectsFileError(`${fileName}: document ${index + 1}: not YAML or JSON: ${document.errors[0]?.message}`);
    // Anchors and aliases are fine in an operator's file; the default cap (100) is for hostile input.
    return document.toJS({ maxAliasCount: 100_000 }) as unknown;
  });
}

export function parseObjectsText(text: string, fileName: string): ParsedObjects {
  const objects: ClusterObjects = { namespaces: [], services: [], endpointSlices: [], legacyEndpoints: [], pods: [] };
  const skippedKinds = new Map<string, number>();
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
        throw new ObjectsFileError(`${where}${position} (${describeObject(item)}): ${error.message}`);
      }
      if (slim === null) {
        const kind = String((item as { kind: string }).kind);
        skippedKinds.set(kind, (skippedKinds.get(kind) ?? 0) + 1);
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
      }
    });
  });
  return { objects, skippedKinds };
}

export function readObjectsFile(path: string): ParsedObjects {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ObjectsFileError(`${path}: cannot read: ${(error as Error).message}`);
  }
  return parseObjectsText(text, path);
}

export interface ObjectsFileSource {
  close(): void;
}

/**
 * Loads the file now (throwing if it is bad: there is no previous view to keep), then keeps
 * `onObjects` fed with every good new version. A bad version is logged and skipped.
 */
export function watchObjectsFile(path: string, log: Logger, onObjects: (objects: ClusterObjects) => void): ObjectsFileSource {
  let lastDigest = '';
  const load = (initial: boolean): void => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if (initial) throw new ObjectsFileError(`${path}: cannot read: ${(error as Error).message}`);
      log.error({ file: path, err: (error as Error).message }, 'objects file unreadable; keeping the previous view');
      return;
    }
    const digest = createHash('sha256').update(text).digest('hex');
    if (digest === lastDigest) return;
    let parsed: ParsedObjects;
    try {
      parsed = parseObjectsText(text, path);
    } catch (error) {
      if (initial) throw error;
      log.error({ file: path, err: (error as Error).message }, 'objects file rejected; keeping the previous view');
      return;
    }
    lastDigest = digest;
    for (const [kind, count] of parsed.skippedKinds) log.info({ file: path, kind, count }, 'skipping objects of a kind lbdns does not serve');
    const o = parsed.objects;
    log.info(
      { file: path, namespaces: o.namespaces.length, services: o.services.length, endpointSlices: o.endpointSlices.length, endpoints: o.legacyEndpoints.length, pods: o.pods.length },
      initial ? 'objects file loaded' : 'objects file reloaded',
    );
    onObjects(parsed.objects);
  };
  load(true);

  const watcher = watchFile(path, () => load(false), (message) => log.warn({ file: path, err: message }, 'objects file watch failed; polling only'));
  return { close: () => watcher.close() };
}
