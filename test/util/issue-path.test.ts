/** Validation issue paths, written as a user would find the field in YAML or JSON. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { issuePath } from '../../src/util/issue-path.ts';

describe('issue paths', () => {
  const cases: [readonly PropertyKey[], string][] = [
    [[], ''],
    [['listen'], 'listen'],
    [['upstreams', 0, 'address'], 'upstreams[0].address'],
    [[3], '[3]'],
    [['spec', 'ports', 1], 'spec.ports[1]'],
    [['endpoints', 2, 'addresses', 0], 'endpoints[2].addresses[0]'],
    [['a', Symbol('s')], 'a.Symbol(s)'],
  ];
  for (const [path, written] of cases) {
    it(`${JSON.stringify(path.map(String))} is "${written}"`, () => {
      assert.equal(issuePath(path), written);
    });
  }
});
