/**
 * Running `dig` from tests: a promise-returning execFile, and whether dig is here. CI installs it
 * (.ci/run); elsewhere a test that needs it says why it skips instead of failing.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

export const run = promisify(execFile);

const haveDig = (() => {
  try {
    execFileSync('dig', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** For `describe(…, { skip })`: false when dig can run (or under CI, where its absence must fail). */
export const skipWithoutDig: string | false = !haveDig && !process.env.CI ? 'dig is not installed (apt-get install bind9-dnsutils)' : false;
