/** What the objects source and its parser thread say to each other (structured-cloned). */
import type { ViewEvent } from '../view/cluster-view.ts';

export interface ParserStart {
  path: string;
}

export type ToParser =
  /** The view holds this text (loaded whole, in the serving thread): compare the next version with it. */
  | { type: 'baseline'; id: number; text: string }
  /** Read and parse the file; keep its events for `next`. */
  | { type: 'load'; id: number }
  /** Hand over the next events, about `weight` records and endpoints' worth. */
  | { type: 'next'; id: number; weight: number }
  /** The view holds records with these identities (contents unknown): compare the next version with them. */
  | { type: 'hold'; id: number; identities: string[] };

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
  | { type: 'held'; id: number };
