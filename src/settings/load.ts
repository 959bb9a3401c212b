/** Reads the settings file and lays command-line flags over it. */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { SettingsError, parseSettings, type Settings } from './schema.ts';
import { contentDigest } from '../util/content-digest.ts';

export interface FlagOverrides {
  objects?: string;
  kubeconfig?: string;
  opsListen?: string;
  debugListen?: string;
  listen?: string[];
  zone?: string[];
  upstream?: string[];
  logLevel?: string;
  workers?: number;
}

/** One version of the settings file: its text and the digest of exactly those bytes. */
export interface SettingsText {
  text: string;
  digest: string;
}

/** Reads the file once, so that what is parsed and what a reload compares against are the same bytes. */
export function readSettingsText(path: string): SettingsText {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new SettingsError(`${path}: cannot read: ${(error as Error).message}`);
  }
  return { text: bytes.toString('utf8'), digest: contentDigest(bytes) };
}

/** Settings from a file's text (null: no file) with the flags laid over them. */
export function parseSettingsText(file: SettingsText | null, configPath: string | undefined, flags: FlagOverrides): Settings {
  let raw: unknown = {};
  if (file) {
    try {
      raw = parseYaml(file.text) ?? {};
    } catch (error) {
      throw new SettingsError(`${configPath}: not YAML: ${(error as Error).message}`);
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SettingsError(`${configPath}: expected a mapping of settings keys`);
  const merged: Record<string, unknown> = { ...raw };
  if (flags.objects !== undefined) merged.objects = flags.objects;
  if (flags.kubeconfig !== undefined) merged.kubeconfig = flags.kubeconfig;
  if (flags.opsListen !== undefined) merged.ops = { ...(merged.ops as object | undefined), listen: flags.opsListen };
  if (flags.debugListen !== undefined) merged.ops = { ...(merged.ops as object | undefined), debugListen: flags.debugListen };
  if (flags.listen !== undefined) merged.listen = flags.listen;
  if (flags.zone !== undefined) merged.zones = flags.zone;
  if (flags.upstream !== undefined) merged.forward = { ...(merged.forward as object | undefined), upstreams: flags.upstream };
  if (flags.logLevel !== undefined) merged.logLevel = flags.logLevel;
  if (flags.workers !== undefined) merged.workers = flags.workers;
  return parseSettings(merged, configPath ?? 'settings');
}

export function loadSettings(configPath: string | undefined, flags: FlagOverrides): Settings {
  return parseSettingsText(configPath ? readSettingsText(configPath) : null, configPath, flags);
}
