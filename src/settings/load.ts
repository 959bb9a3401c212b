/** Reads the settings file and lays command-line flags over it. */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { SettingsError, parseSettings, type Settings } from './schema.ts';

export interface FlagOverrides {
  objects?: string;
  kubeconfig?: string;
  opsListen?: string;
  listen?: string[];
  zone?: string[];
  upstream?: string[];
  logLevel?: string;
  workers?: number;
}

export function readSettingsFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SettingsError(`${path}: cannot read: ${(error as Error).message}`);
  }
  try {
    return parseYaml(text) ?? {};
  } catch (error) {
    throw new SettingsError(`${path}: not YAML: ${(error as Error).message}`);
  }
}

export function loadSettings(configPath: string | undefined, flags: FlagOverrides): Settings {
  const raw = configPath ? readSettingsFile(configPath) : {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SettingsError(`${configPath}: expected a mapping of settings keys`);
  const merged: Record<string, unknown> = { ...raw };
  if (flags.objects !== undefined) merged.objects = flags.objects;
  if (flags.kubeconfig !== undefined) merged.kubeconfig = flags.kubeconfig;
  if (flags.opsListen !== undefined) merged.ops = { ...(merged.ops as object | undefined), listen: flags.opsListen };
  if (flags.listen !== undefined) merged.listen = flags.listen;
  if (flags.zone !== undefined) merged.zones = flags.zone;
  if (flags.upstream !== undefined) merged.forward = { ...(merged.forward as object | undefined), upstreams: flags.upstream };
  if (flags.logLevel !== undefined) merged.logLevel = flags.logLevel;
  if (flags.workers !== undefined) merged.workers = flags.workers;
  return parseSettings(merged, configPath ?? 'settings');
}
