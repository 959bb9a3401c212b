/**
 * Live settings: the settings file (a ConfigMap mount in a cluster) is watched and re-read, and
 * SIGHUP re-reads it too. A version that does not validate is rejected with the key named; the
 * last good settings keep serving.
 */
import type { Logger } from 'pino';
import { type FileWatch, watchFile } from '../util/watch-file.ts';
import { type FlagOverrides, parseSettingsText, readSettingsText, type SettingsText } from './load.ts';
import type { Settings } from './schema.ts';

export interface SettingsWatch {
  /** Re-reads now (SIGHUP). */
  reload(reason: string): void;
  close(): void;
}

const UNREADABLE = 'unreadable';
/** Files read with the settings file (a Corefile's imports and hosts files) watched at most. */
const MAX_ALSO_WATCHED = 64;

/**
 * Watches `configPath`, starting from `servedDigest`: the digest of the bytes the served settings
 * were parsed from. Once the watch is in place the file is checked against it, so a version
 * written between that read and the watch (kubelet may swap the ConfigMap at any time) is applied
 * rather than taken for the one already served.
 */
export function watchSettings(configPath: string, servedDigest: string, flags: FlagOverrides, log: Logger, apply: (settings: Settings) => void, outcome: (ok: boolean) => void): SettingsWatch {
  let lastDigest = servedDigest;
  // A Corefile's imports, hosts files and the settings file laid over it may sit in folders of
  // their own (other ConfigMaps): each is watched too, from the first version that names it.
  const alsoWatched = new Map<string, FileWatch>();
  const watchAlso = (paths: string[] | undefined): void => {
    for (const path of paths ?? []) {
      if (path === configPath || alsoWatched.has(path) || alsoWatched.size >= MAX_ALSO_WATCHED) continue;
      alsoWatched.set(path, watchFile(path, () => reload('file changed', false), (message) => log.warn({ file: path, err: message }, 'watch failed; polling only')));
    }
  };
  const reject = (reason: string, message: string, why: string): void => {
    log.error({ file: configPath, reason, err: message }, why);
    outcome(false);
  };
  const reload = (reason: string, force: boolean): void => {
    let file: SettingsText;
    try {
      file = readSettingsText(configPath, flags);
    } catch (error) {
      if (!force && lastDigest === UNREADABLE) return;
      lastDigest = UNREADABLE;
      return reject(reason, (error as Error).message, 'settings rejected; the last good settings keep serving');
    }
    watchAlso(file.alsoRead);
    if (!force && file.digest === lastDigest) return;
    lastDigest = file.digest;
    let settings: Settings;
    try {
      settings = parseSettingsText(file, configPath, flags);
    } catch (error) {
      return reject(reason, (error as Error).message, 'settings rejected; the last good settings keep serving');
    }
    try {
      apply(settings);
    } catch (error) {
      return reject(reason, (error as Error).message, 'settings cannot be served; the last good settings keep serving');
    }
    outcome(true);
    log.info({ file: configPath, reason }, 'settings reloaded');
    logSettingsRemarks(log, configPath, file);
  };
  const watcher = watchFile(configPath, () => reload('file changed', false), (message) => log.warn({ file: configPath, err: message }, 'settings watch failed; polling only'));
  reload('changed while starting', false);
  return {
    reload: (reason) => reload(reason, true),
    close: () => {
      watcher.close();
      for (const also of alsoWatched.values()) also.close();
    },
  };
}

/** What a Corefile's translation said: warnings (served differently from CoreDNS) and notes (done natively). */
export function logSettingsRemarks(log: Logger, path: string, file: SettingsText | null): void {
  for (const note of file?.notes ?? []) log.info({ file: path, note }, 'Corefile: handled natively');
  for (const warning of file?.warnings ?? []) log.warn({ file: path, warning }, 'Corefile: served differently from CoreDNS');
}

/** The settings that only take effect at start: where lbdns listens and where its data comes from. */
const RESTART_KEYS = ['workers', 'io', 'listen', 'ops', 'tcp', 'source', 'objects', 'kubeconfig', 'kubernetes', 'namespaces', 'pods', 'nodeLocal'] as const;

export function keysNeedingRestart(before: Settings, after: Settings): string[] {
  return RESTART_KEYS.filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]));
}

/**
 * What a reload can apply while running: `next`, except that the keys which take effect only at
 * start keep their running values, so nothing is half applied (the Kubernetes watch would still
 * filter by the old namespaces, and pods would not be watched) until the restart the log asks for.
 */
export function applicableNow(running: Settings, next: Settings): { settings: Settings; pendingRestart: string[] } {
  const pendingRestart = keysNeedingRestart(running, next);
  const settings: Record<string, unknown> = { ...next };
  for (const key of pendingRestart) settings[key] = running[key as keyof Settings];
  return { settings: settings as Settings, pendingRestart };
}
