/**
 * app.ts resolves what validation leaves open: the serving thread count when `workers` is unset.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { servingThreadCount } from '../src/app.ts';
import { parseSettings } from '../src/settings/schema.ts';
import { usableCpus } from '../src/util/usable-cpus.ts';

describe('app: serving threads', () => {
  it('workers unset: as many as the CPUs this process may use', () => {
    const count = servingThreadCount(parseSettings({}));
    assert.equal(count, usableCpus());
    assert.ok(Number.isInteger(count) && count >= 1, 'workers: the usable CPUs');
  });

  it('workers set: exactly that many, whatever the CPUs', () => {
    assert.equal(servingThreadCount(parseSettings({ workers: 1 })), 1);
    assert.equal(servingThreadCount(parseSettings({ workers: 7 })), 7);
  });
});
