/** What the objects source and its parser thread say to each other (structured-cloned). */
import type { ViewEvent } from '../view/cluster-view.ts';
import type { Fingerprints } from './objects-diff.ts';

/** What the view holds, as a new version is compared with it: each record's fingerprint. */
export interface FingerprintedVersion {
  /** The file's digest ('' when unknown). */
  digest: string;
  /** '' for a record whose content is unknown (a thread died mid-way): it is upserted again. */
  fingerprints: Fingerprints;
}

/**
 * A fingerprinted version as the serving thread keeps it between two jobs of a parser thread: its
 * fingerprints v8-serialized. The serving thread only hands them on, and as a Map the identities
 * and digests of 20,000 records held 3 MiB of its heap (heap snapshot); as bytes, 1.6 MB off it.
 */
export interface SerializedVersion {
  digest: string;
  fingerprints: Uint8Array;
}

/**
 * What the view holds, as the serving thread keeps it between two jobs of a parser thread: the
 * text it was loaded from whole (at startup, or a small file loaded here), or a fingerprinted version.
 */
export type HeldVersion = { text: string } | SerializedVersion;

/** A parser thread is started for one job, holding what the view holds; it hands that back when done. */
export interface ParserStart {
  path: string;
  held: HeldVersion;
}

export type ToParser =
  /** Read and parse the file; keep its events for `next`. */
  | { type: 'load'; id: number }
  /** Hand over the next events, about `weight` records and endpoints' worth. */
  | { type: 'next'; id: number; weight: number }
  /** Hand back what the view holds now (fingerprinting the text it started with, if still needed): the job is over. */
  | { type: 'finish'; id: number };

export interface ObjectCounts {
  namespaces: number;
  services: number;
  endpointSlices: number;
  endpoints: number;
  pods: number;
}

export type FromParser =
  | { type: 'unreadable'; id: number; error: string }
  /** The same bytes as the version the view holds. */
  | { type: 'unchanged'; id: number; signature: string }
  | { type: 'rejected'; id: number; signature: string; error: string; skippedObjects: string[]; skippedCount: number }
  | {
      type: 'parsed';
      id: number;
      /** The file as it was read (inode, size, times): it must match the one that settled. */
      signature: string;
      counts: ObjectCounts;
      skippedKinds: Array<[string, number]>;
      /** What the first unreadable objects were (file, document, item, object, field), and how many there were. */
      skippedObjects: string[];
      skippedCount: number;
      upserts: number;
      deletes: number;
    }
  | { type: 'events'; id: number; events: ViewEvent[]; done: boolean }
  | { type: 'held'; id: number; held: SerializedVersion };
