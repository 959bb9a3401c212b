/**
 * Live settings: the settings file (a ConfigMap mount in a cluster) is watched and re-read, and
 * SIGHUP re-reads it too. A version that does not validate is rejected with the key named; the
 * last good settings keep serving.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { watchFile } from '../util/watch-file.ts';
import { type FlagOverrides, loadSettings } from './load.ts';
import type { Settings } from './schema.ts';

export interface SettingsWatch {
  /** Re-reads now (SIGHUP). */
  reload(reason: string): void;
  close(): void;
}

function digestOf(path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return 'unreadable';
  }
}

export function watchSettings(configPath: string, flags: FlagOverrides, log: Logger, apply: (settings: Settings) => void, outcome: (ok: boolean) => void): SettingsWatch {
  let lastDigest = digestOf(configPath);
  const reload = (reason: string, force: boolean): void => {
    const digest = digestOf(configPath);
    if (!force && digest === lastDigest) return;
    lastDigest = digest;
    let settings: Settings;
    try {
      settings = loadSettings(configPath, flags);
    } catch (error) {
      log.error({ file: configPath, reason, err: (error as Error).message }, 'settings rejected; the last good settings keep serving');
      outcome(false);
      return;
    }
    try {
      apply(settings);
    } catch (error) {
      log.error({ file: configPath, reason, err: (error as Error).message }, 'settings cannot be served; the last good settings keep serving');
      outcome(false);
      return;
    }
    outcome(true);
    log.info({ file: configPath, reason }, 'settings reloaded');
  };
  const watcher = watchFile(configPath, () => reload('file changed', false), (message) => log.warn({ file: configPath, err: message }, 'settings watch failed; polling only'));
  return { reload: (reason) => reload(reason, true), close: () => watcher.close() };
}

/** The settings that only take effect at start: where lbdns listens and where its data comes from. */
const RESTART_KEYS = ['workers', 'listen', 'ops', 'tcp', 'source', 'objects', 'kubeconfig', 'kubernetes', 'namespaces', 'pods'] as const;

export function keysNeedingRestart(before: Settings, after: Settings): string[] {
  return RESTART_KEYS.filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]));
}
