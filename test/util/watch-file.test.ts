/**
 * The stat poll behind the directory watch, on a path whose directory watch sees nothing: the
 * settings path is a symlink into another directory, which is where the changes happen.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchFile } from '../../src/util/watch-file.ts';

/** Resolves when `watchFile` calls back; fails after `limitMs`. */
function changeSeen(path: string, limitMs: number): { seen: Promise<void>; close(): void } {
  let close = (): void => {};
  const seen = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no change seen within ${limitMs} ms`)), limitMs);
    const watch = watchFile(path, () => resolve(), (message) => reject(new Error(message)));
    close = () => {
      clearTimeout(timer);
      watch.close();
    };
  });
  return { seen, close: () => close() };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const FIXED_TIME = 1_700_000_000;

describe('watchFile', () => {
  it('sees an in-place rewrite that keeps the size and the mtime', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'lbdns-watch-real-'));
    const watched = mkdtempSync(join(tmpdir(), 'lbdns-watch-link-'));
    const real = join(elsewhere, 'lbdns.yaml');
    writeFileSync(real, 'ttl: 11\n');
    utimesSync(real, FIXED_TIME, FIXED_TIME);
    symlinkSync(real, join(watched, 'lbdns.yaml'));
    const ctimeBefore = statSync(real).ctimeMs;
    const watch = changeSeen(join(watched, 'lbdns.yaml'), 10_000);
    try {
      // Rewritten until the filesystem's ctime clock has moved on (it may tick coarsely).
      for (let i = 0; statSync(real).ctimeMs === ctimeBefore; i++) {
        if (i > 0) await sleep(10);
        writeFileSync(real, 'ttl: 22\n');
        utimesSync(real, FIXED_TIME, FIXED_TIME);
      }
      assert.equal(statSync(real).mtimeMs, FIXED_TIME * 1000);
      await watch.seen;
    } finally {
      watch.close();
    }
  });

  it('sees a ConfigMap symlink swap to a file of the same size and mtime', async () => {
    const mount = mkdtempSync(join(tmpdir(), 'lbdns-watch-mount-'));
    const watched = mkdtempSync(join(tmpdir(), 'lbdns-watch-link-'));
    const version = (name: string, text: string): void => {
      mkdirSync(join(mount, name));
      writeFileSync(join(mount, name, 'lbdns.yaml'), text);
      utimesSync(join(mount, name, 'lbdns.yaml'), FIXED_TIME, FIXED_TIME);
    };
    version('..v1', 'ttl: 11\n');
    symlinkSync('..v1', join(mount, '..data'));
    symlinkSync(join(mount, '..data', 'lbdns.yaml'), join(watched, 'lbdns.yaml'));
    const watch = changeSeen(join(watched, 'lbdns.yaml'), 10_000);
    try {
      version('..v2', 'ttl: 22\n');
      symlinkSync('..v2', join(mount, '..data_tmp'));
      renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
      await watch.seen;
    } finally {
      watch.close();
    }
  });
});
