/** What the primary thread and its serving workers say to each other (structured-cloned). */
import type { Settings } from '../settings/schema.ts';
import type { ClusterObjects } from '../view/types.ts';
import type { ViewUpdate } from '../view/cluster-view.ts';
import type { BoundListen, ServingStats } from '../server/serving.ts';
import type { UdpIo } from '../server/udp-batch.ts';

/** Everything a worker needs to start serving. */
export interface WorkerStart {
  index: number;
  threads: number;
  settings: Settings;
  /** The primary's view when the worker was made; updates after it arrive as messages. */
  snapshot: ClusterObjects;
  serial: number;
  ready: boolean;
  listen: BoundListen[];
  /** How UDP datagrams move: the primary chose once for the process. */
  udpIo: UdpIo;
  /** The primary's DNS cookie secret: a cookie any worker minted is good at every other. */
  cookieSecret: Uint8Array;
}

export type ToWorker =
  | { type: 'view'; update: ViewUpdate; serial: number }
  | { type: 'ready' }
  | { type: 'settings'; settings: Settings }
  | { type: 'stats'; id: number }
  | { type: 'stop' };

export type FromWorker = { type: 'listening'; bound: BoundListen[] } | { type: 'stats'; id: number; stats: ServingStats } | { type: 'stopped' };
