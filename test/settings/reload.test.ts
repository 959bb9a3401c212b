/** watchSettings starts from the version being served, not from what the file holds when it starts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { readSettingsText } from '../../src/settings/load.ts';
import { applicableNow, watchSettings } from '../../src/settings/reload.ts';
import { type Settings, parseSettings } from '../../src/settings/schema.ts';
import { tempFile } from '../helpers/lbdns-process.ts';

const silent = pino({ level: 'silent' });

describe('watchSettings', () => {
  it('applies a version written between the read that is served and the start of the watch', () => {
    const path = tempFile('lbdns.yaml', 'ttl: 5\n');
    const served = readSettingsText(path);
    writeFileSync(path, 'ttl: 9\n');
    const applied: Settings[] = [];
    const watch = watchSettings(path, served.digest, { workers: 1 }, silent, (s) => applied.push(s), () => {});
    try {
      assert.deepEqual(applied.map((s) => s.ttl), [9]);
    } finally {
      watch.close();
    }
  });

  it('applies nothing when the file still holds the version being served', () => {
    const path = tempFile('lbdns.yaml', 'ttl: 5\n');
    const applied: Settings[] = [];
    const watch = watchSettings(path, readSettingsText(path).digest, { workers: 1 }, silent, (s) => applied.push(s), () => {});
    try {
      assert.deepEqual(applied, []);
    } finally {
      watch.close();
    }
  });
});

describe('applicableNow', () => {
  it('keeps the running UDP I/O until a restart: the sockets are bound with it', () => {
    const running = parseSettings({ io: 'auto', ttl: 5 });
    const { settings, pendingRestart } = applicableNow(running, parseSettings({ io: 'dgram', ttl: 9 }));
    assert.deepEqual(pendingRestart, ['io']);
    assert.equal(settings.io, 'auto');
    assert.equal(settings.ttl, 9);
  });
});
