import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkLayers } from '../../scripts/lint-layers.ts';

describe('lint:layers', () => {
  it('accepts imports to the same layer or a lower one', () => {
    const report = checkLayers([
      { from: 'server/handler.ts', to: 'resolve/router.ts' },
      { from: 'resolve/router.ts', to: 'wire/query.ts' },
      { from: 'wire/records.ts', to: 'net/ip.ts' },
      { from: 'cli.ts', to: 'app.ts' },
    ]);
    assert.deepEqual(report, { upward: [], fileCycles: [], folderCycles: [] });
  });

  it('reports an import to a higher layer', () => {
    const report = checkLayers([{ from: 'wire/message.ts', to: 'balance/plan.ts' }]);
    assert.deepEqual(report.upward, [{ from: 'wire/message.ts', to: 'balance/plan.ts' }]);
  });

  it('reports a file cycle and two folders of one layer importing each other', () => {
    const report = checkLayers([
      { from: 'server/handler.ts', to: 'server/autopath.ts' },
      { from: 'server/autopath.ts', to: 'server/handler.ts' },
      { from: 'server/serving.ts', to: 'ops/query-metrics.ts' },
      { from: 'ops/metrics.ts', to: 'server/serving.ts' },
    ]);
    assert.deepEqual(report.fileCycles, [['server/autopath.ts', 'server/handler.ts']]);
    assert.deepEqual(report.folderCycles, [['ops', 'server']]);
  });

  it('refuses a folder it has no layer for', () => {
    assert.throws(() => checkLayers([{ from: 'misc/x.ts', to: 'wire/name.ts' }]), /no layer for "misc"/);
  });
});
