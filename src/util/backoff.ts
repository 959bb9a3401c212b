/**
 * How long to wait before trying again, after `attempt` failures in a row (1 for the first): the
 * base wait, doubled per further failure, never more than the cap. With `jitter`, the wait is
 * drawn uniformly from its upper half ("equal jitter"), so that many replicas that failed together
 * do not all retry together.
 *
 * The constants are their users':
 * - a serving worker that died (workers/pool.ts): 100 ms, doubling to 5 s, no jitter (one
 *   process restarting its own thread has no crowd to spread);
 * - a Kubernetes list/watch that failed (sources/kubernetes/reflector.ts): 500 ms, doubling to
 *   `kubernetes.retryMaxSeconds` (30 s by default), with jitter (every replica of lbdns watches
 *   the same API server, and an API server restart fails them all at once).
 */
export interface Backoff {
  baseMs: number;
  maxMs: number;
  jitter: boolean;
}

/** Doublings past which the cap has long been reached (and 2 ** n stays a finite number). */
const MAX_DOUBLINGS = 30;

export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), MAX_DOUBLINGS));
  return backoff.jitter ? ceiling / 2 + (random() * ceiling) / 2 : ceiling;
}
