/**
 * How many CPUs this process may use: its CPU affinity, capped by its cgroup's CPU quota (a
 * container's `resources.limits.cpu`), which the affinity does not show.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

function readNumbers(path: string): string[] | null {
  try {
    return readFileSync(path, 'utf8').trim().split(/\s+/);
  } catch {
    return null;
  }
}

/** The CPU quota in whole CPUs (rounded up), or null when there is none. */
export function cgroupCpuLimit(root = '/sys/fs/cgroup'): number | null {
  const v2 = readNumbers(`${root}/cpu.max`);
  if (v2) {
    const [quota, period] = v2;
    return quota === 'max' || !Number(period) ? null : Math.max(1, Math.ceil(Number(quota) / Number(period)));
  }
  const quota = Number(readNumbers(`${root}/cpu/cpu.cfs_quota_us`)?.[0]);
  const period = Number(readNumbers(`${root}/cpu/cpu.cfs_period_us`)?.[0]);
  return quota > 0 && period > 0 ? Math.max(1, Math.ceil(quota / period)) : null;
}

export function usableCpus(cgroupRoot?: string): number {
  return Math.max(1, Math.min(availableParallelism(), cgroupCpuLimit(cgroupRoot) ?? Infinity));
}
