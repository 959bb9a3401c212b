/** Polling for a condition in tests, with a bound. */
import assert from 'node:assert/strict';

/** Polls `check` every `everyMs` until it passes; returns the milliseconds it took, fails after `limitMs`. */
export async function within(limitMs: number, check: () => Promise<boolean>, everyMs = 20): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > limitMs) assert.fail(`not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
