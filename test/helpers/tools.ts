/**
 * The command-line tools tests drive (dig, kubectl, unshare): a promise-returning execFile, and
 * whether a tool is here. CI installs them (.ci/run; kubectl comes with the image); elsewhere a test that
 * needs one says why it skips instead of failing.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

export const run = promisify(execFile);

/** For `describe(…, { skip })`: false when `command args` runs (or under CI, where its absence must fail). */
function skipWithout(command: string, args: string[], reason: string): string | false {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return false;
  } catch {
    return process.env.CI ? false : reason;
  }
}

export const skipWithoutDig = skipWithout('dig', ['-v'], 'dig is not installed (apt-get install bind9-dnsutils)');
export const skipWithoutKubectl = skipWithout('kubectl', ['version', '--client'], 'kubectl is not installed');

/** For tests that build network namespaces (unshare, ip, tc): false as root where unshare works. */
export const skipWithoutNamespaces: string | false = (() => {
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace (unshare)';
  try {
    execFileSync('unshare', ['--mount', '--net', '--fork', 'true'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'network namespaces are not allowed here (unshare failed)';
  }
})();
