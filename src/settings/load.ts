/** Reads the settings file and lays command-line flags over it. */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SettingsError, parseSettings, type Settings } from './schema.ts';
import { contentDigest } from '../util/content-digest.ts';
import { readCorefile, translateCorefile } from './corefile.ts';

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
  io?: string;
  /** A CoreDNS Corefile to read the settings from (--corefile, or CoreDNS's -conf). */
  corefile?: string;
  /** With a Corefile: a settings file laid over what the Corefile says (--config). */
  config?: string;
}

/** One version of the settings file: its text and the digest of exactly those bytes. */
export interface SettingsText {
  text: string;
  digest: string;
  /** From a Corefile: what is served differently from CoreDNS, with the line that asks for it. */
  warnings?: string[];
  /** From a Corefile: plugins whose work lbdns does natively. */
  notes?: string[];
  /** Other files (and import globs) this version was read from: a change to one is a new version. */
  alsoRead?: string[];
}

/**
 * Reads the file once, so that what is parsed and what a reload compares against are the same
 * bytes. The Corefile (`flags.corefile`) is read with the files it imports and names (hosts
 * files, the settings file laid over it): a change to any of them is a new version.
 */
export function readSettingsText(path: string, flags: FlagOverrides = {}): SettingsText {
  if (flags.corefile !== undefined && path === flags.corefile) return readCorefileSettings(path, flags.config);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new SettingsError(`${path}: cannot read: ${(error as Error).message}`);
  }
  return { text: bytes.toString('utf8'), digest: contentDigest(bytes) };
}

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new SettingsError(`${path}: cannot read: ${(error as Error).message}`);
  }
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `over` laid on `base`: mappings merge key by key, anything else is replaced. */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const below = out[key];
    out[key] = isMapping(below) && isMapping(value) ? deepMerge(below, value) : value;
  }
  return out;
}

/** The Corefile's settings (as JSON text, which is YAML) with the settings file laid over them. */
function readCorefileSettings(path: string, overlayPath: string | undefined): SettingsText {
  // Every file read, in order, digested as one: a change to any of them is a reload.
  const digested: Array<Buffer | string> = [];
  const text = readBytes(path).toString('utf8');
  const { blocks, files, globs } = readCorefile(text, path);
  const alsoRead = [...files.slice(1).map((f) => f.path), ...globs];
  const translation = translateCorefile(blocks, dirname(path));
  for (const file of files) digested.push(`${file.path}\0${file.text}\0`);
  // Hosts files are read by the serving threads; their bytes here make a change to one a reload.
  const hosts = translation.settings.hosts as { files?: string[] } | undefined;
  for (const file of hosts?.files ?? []) {
    let bytes: Buffer | string;
    try {
      bytes = readFileSync(file);
    } catch {
      bytes = 'unreadable';
    }
    digested.push(`${file}\0`, bytes, '\0');
    alsoRead.push(file);
  }
  let settings = translation.settings;
  if (overlayPath !== undefined) {
    const overlay = readBytes(overlayPath);
    alsoRead.push(overlayPath);
    digested.push(`${overlayPath}\0`, overlay);
    let raw: unknown;
    try {
      raw = parseYaml(overlay.toString('utf8')) ?? {};
    } catch (error) {
      throw new SettingsError(`${overlayPath}: not YAML: ${(error as Error).message}`);
    }
    if (!isMapping(raw)) throw new SettingsError(`${overlayPath}: expected a mapping of settings keys`);
    settings = deepMerge(settings, raw);
  }
  return { text: JSON.stringify(settings), digest: contentDigest(Buffer.concat(digested.map((part) => (typeof part === 'string' ? Buffer.from(part) : part)))), warnings: translation.warnings, notes: translation.notes, alsoRead };
}

/** Settings from a file's text (null: no file) with the flags laid over them. */
export function parseSettingsText(file: SettingsText | null, configPath: string | undefined, flags: FlagOverrides): Settings {
  let raw: unknown = {};
  if (file) {
    try {
      raw = parseYaml(file.text);
    } catch (error) {
      throw new SettingsError(`${configPath}: not YAML: ${(error as Error).message}`);
    }
    // An emptied ConfigMap, or one caught half written, must not reset every setting to its default.
    if (raw === null || raw === undefined) throw new SettingsError(`${configPath}: empty (no settings in it); write {} to run on every default`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SettingsError(`${configPath}: expected a mapping of settings keys`);
  const merged: Record<string, unknown> = { ...raw };
  // A source flag wins over the file's `source` as over its other keys.
  if (flags.objects !== undefined && flags.kubeconfig !== undefined) throw new SettingsError('--objects and --kubeconfig name two sources: give one');
  if (flags.objects !== undefined) Object.assign(merged, { objects: flags.objects, source: 'file' });
  if (flags.kubeconfig !== undefined) Object.assign(merged, { kubeconfig: flags.kubeconfig, source: 'kubernetes' });
  if (flags.opsListen !== undefined) merged.ops = { ...(merged.ops as object | undefined), listen: flags.opsListen };
  if (flags.debugListen !== undefined) merged.ops = { ...(merged.ops as object | undefined), debugListen: flags.debugListen };
  if (flags.listen !== undefined) merged.listen = flags.listen;
  if (flags.zone !== undefined) merged.zones = flags.zone;
  if (flags.upstream !== undefined) merged.forward = { ...(merged.forward as object | undefined), upstreams: flags.upstream };
  if (flags.logLevel !== undefined) merged.logLevel = flags.logLevel;
  if (flags.workers !== undefined) merged.workers = flags.workers;
  if (flags.io !== undefined) merged.io = flags.io;
  return parseSettings(merged, configPath ?? 'settings');
}

export function loadSettings(configPath: string | undefined, flags: FlagOverrides): Settings {
  return parseSettingsText(configPath ? readSettingsText(configPath, flags) : null, configPath, flags);
}
