/**
 * Where lbdns is installed: the nearest folder above this module that holds a package.json. That
 * is two up from src/util/ in a checkout and one up from the image's bundle in dist/, where this
 * code lands in a shared chunk: a path relative to the module (`../../package.json`) holds in one
 * layout only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (where node-gyp builds the addon), or this module's folder when none is found. */
export function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return here;
  }
}

let version: string | undefined;

/** package.json's version, read once; 'unknown' when it cannot be read. */
export function packageVersion(): string {
  if (version === undefined) {
    try {
      const read = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown }).version;
      version = typeof read === 'string' ? read : 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
