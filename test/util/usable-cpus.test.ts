/** The default worker count: CPU affinity capped by the cgroup's CPU quota (v2 and v1 layouts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupCpuLimit, usableCpus } from '../../src/util/usable-cpus.ts';

function cgroup(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'lbdns-cgroup-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

describe('usable CPUs', () => {
  it('reads a cgroup v2 quota, rounding part of a CPU up', () => {
    assert.equal(cgroupCpuLimit(cgroup({ 'cpu.max': '150000 100000\n' })), 2);
    assert.equal(cgroupCpuLimit(cgroup({ 'cpu.max': '50000 100000\n' })), 1);
    assert.equal(cgroupCpuLimit(cgroup({ 'cpu.max': 'max 100000\n' })), null);
  });

  it('reads a cgroup v1 quota, where -1 means none', () => {
    assert.equal(cgroupCpuLimit(cgroup({ 'cpu/cpu.cfs_quota_us': '300000\n', 'cpu/cpu.cfs_period_us': '100000\n' })), 3);
    assert.equal(cgroupCpuLimit(cgroup({ 'cpu/cpu.cfs_quota_us': '-1\n', 'cpu/cpu.cfs_period_us': '100000\n' })), null);
    assert.equal(cgroupCpuLimit(cgroup({})), null);
  });

  it('never exceeds the CPUs the affinity allows, nor goes below 1', () => {
    assert.equal(usableCpus(cgroup({ 'cpu.max': '100000000 100000\n' })), availableParallelism());
    assert.equal(usableCpus(cgroup({ 'cpu.max': '1000 100000\n' })), 1);
  });
});
