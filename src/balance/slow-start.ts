/**
 * Slow start: an endpoint that became ready while lbdns runs draws with its weight times a ramp
 * factor, linear from RAMP_FLOOR (the moment it was first seen ready) to 1 at the end of the
 * window. The factor is a weight multiplier: it applies when an answer is prepared, never per
 * query; an answer prepared during a ramp is prepared again one step later (see refreshStepMs),
 * so a ramp costs one rebuild of its Service's answers per step, whatever the query rate.
 *
 * When an endpoint was first seen ready is the view's (Endpoint.readySince): the primary stamps
 * it and the record carries it to every worker, so all serving threads ramp alike.
 */

/** The share of its weight a newly ready endpoint starts with. */
export const RAMP_FLOOR = 0.1;
/** The longest window (settings and annotation alike): one day. */
export const MAX_SLOW_START_SECONDS = 86_400;
/** Steps per window: the factor is re-read this often at most. */
export const RAMP_STEPS = 20;
/** The shortest step: an answer is never rebuilt for a ramp more often than this. */
export const MIN_STEP_MS = 1000;

/**
 * The weight multiplier at `nowMs` for an endpoint first seen ready at `readySinceMs` (undefined:
 * ready before lbdns started, or long ago), over a window of `windowSeconds` (0: off).
 */
export function rampFactor(readySinceMs: number | undefined, nowMs: number, windowSeconds: number): number {
  if (readySinceMs === undefined || windowSeconds <= 0) return 1;
  const progress = (nowMs - readySinceMs) / (windowSeconds * 1000);
  if (progress >= 1) return 1;
  if (progress <= 0) return RAMP_FLOOR;
  return RAMP_FLOOR + (1 - RAMP_FLOOR) * progress;
}

/** Whether the endpoint is still ramping at `nowMs`. */
export function ramping(readySinceMs: number | undefined, nowMs: number, windowSeconds: number): boolean {
  return readySinceMs !== undefined && windowSeconds > 0 && nowMs - readySinceMs < windowSeconds * 1000;
}

/** How long an answer prepared during a ramp of this window is served before it is prepared again. */
export function refreshStepMs(windowSeconds: number): number {
  return Math.max(MIN_STEP_MS, Math.ceil((windowSeconds * 1000) / RAMP_STEPS));
}

/**
 * When an answer prepared at `nowMs` should be prepared again: one step later, or when the first
 * of its ramps ends if sooner (so an endpoint reaches full weight on time); null when nothing ramps.
 */
export function nextRefresh(readySince: Iterable<number | undefined>, nowMs: number, windowSeconds: number): number | null {
  let next = Infinity;
  for (const since of readySince) if (ramping(since, nowMs, windowSeconds)) next = Math.min(next, (since as number) + windowSeconds * 1000);
  if (next === Infinity) return null;
  return Math.min(nowMs + refreshStepMs(windowSeconds), next);
}

/** An annotation's value in seconds, or null when it is not a whole number in [0, MAX_SLOW_START_SECONDS]. */
export function parseSlowStartSeconds(text: string): number | null {
  if (!/^\s*\d+\s*$/.test(text)) return null;
  const seconds = Number(text);
  return seconds <= MAX_SLOW_START_SECONDS ? seconds : null;
}
