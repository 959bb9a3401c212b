/** The `namespaces` setting: the namespaces it lists, or every one when it lists none. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSettings } from '../../src/settings/schema.ts';
import { servesNamespace } from '../../src/settings/served-namespaces.ts';

describe('servesNamespace', () => {
  const cases: [string[] | undefined, string, boolean][] = [
    [undefined, 'shop', true],
    [[], 'kube-system', true],
    [['shop'], 'shop', true],
    [['shop'], 'ops', false],
    [['shop', 'ops'], 'ops', true],
    // Names are compared as written: Kubernetes namespace names are lowercase already.
    [['shop'], 'Shop', false],
    [['shop'], 'sho', false],
  ];
  for (const [listed, namespace, served] of cases) {
    it(`namespaces: ${JSON.stringify(listed ?? '(unset)')} ${served ? 'serves' : 'does not serve'} "${namespace}"`, () => {
      const settings = parseSettings(listed === undefined ? {} : { namespaces: listed });
      assert.equal(servesNamespace(settings, namespace), served);
    });
  }
});
