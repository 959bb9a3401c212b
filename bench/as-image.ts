/**
 * What the benches that measure speed, memory and startup need to run lbdns as the image does:
 * the code it runs (the esbuild bundle, built for this run), the flags its ENTRYPOINT gives node
 * and the environment its ENV lines set (Dockerfile).
 * LBDNS_FROM=src runs this checkout's TypeScript source instead of the bundle; LBDNS_NODE_FLAGS
 * replaces the flags (space-separated; empty: none), e.g. to weigh another V8 flag or add
 * --cpu-prof; LBDNS_IMAGE_ENV=none leaves the image's ENV out.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
let built: string | undefined;

/**
 * The bin/lbdns.js to run: by default that of the image's layout, made once per bench in a temp
 * folder (package.json, bin/, the bundle in dist/, this checkout's node_modules and build/ linked).
 * The first call builds it (about 1.5 s of esbuild): make it before any clock starts, or the
 * build counts as lbdns's startup.
 * Why not the source: Node strips the types of every module in every thread, a per-thread cost
 * the image does not pay (bench:footprint), and modules the bundle leaves out load too: at
 * 10,000 Services with 2 workers, 201 MiB RSS after load from src/ against 183 MiB from the bundle
 * (bench:scale, same day).
 */
export function lbdnsCli(): string {
  if (process.env.LBDNS_FROM === 'src') return join(root, 'bin/lbdns.js');
  if (built) return built;
  const folder = mkdtempSync(join(tmpdir(), 'lbdns-as-image-'));
  process.once('exit', () => rmSync(folder, { recursive: true, force: true }));
  const app = join(folder, 'app');
  mkdirSync(join(app, 'bin'), { recursive: true });
  for (const file of ['package.json', 'bin/lbdns.js']) copyFileSync(join(root, file), join(app, file));
  symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'));
  // The addon, when this checkout built it; without it lbdns serves through node:dgram (and says so).
  if (existsSync(join(root, 'build'))) symlinkSync(join(root, 'build'), join(app, 'build'));
  execFileSync(process.execPath, [join(root, 'scripts/build.js'), join(app, 'dist')], { stdio: 'inherit' });
  built = join(app, 'bin/lbdns.js');
  if (!existsSync(join(dirname(built), '../dist/cli.js'))) throw new Error(`the bundle was not built in ${app}`);
  return built;
}

export function imageNodeFlags(): string[] {
  const dockerfile = readFileSync(fileURLToPath(new URL('../Dockerfile', import.meta.url)), 'utf8');
  const line = dockerfile.split('\n').find((l) => l.startsWith('ENTRYPOINT '));
  if (!line) throw new Error('the Dockerfile has no ENTRYPOINT');
  const command = JSON.parse(line.slice('ENTRYPOINT '.length)) as string[];
  const script = command.findIndex((part) => part.endsWith('/bin/lbdns.js'));
  if (script < 1) throw new Error(`the Dockerfile's ENTRYPOINT does not run bin/lbdns.js: ${line}`);
  return command.slice(1, script);
}

/** LBDNS_NODE_FLAGS when set, else the image's flags. */
export function lbdnsNodeFlags(): string[] {
  const env = process.env.LBDNS_NODE_FLAGS;
  return env === undefined ? imageNodeFlags() : env.split(' ').filter((flag) => flag !== '');
}

/** What the final stage's `ENV KEY=VALUE` lines set (the only form the Dockerfile uses). */
export function imageEnv(): Record<string, string> {
  const dockerfile = readFileSync(fileURLToPath(new URL('../Dockerfile', import.meta.url)), 'utf8');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of finalStage.split('\n')) {
    const setting = /^ENV ([A-Za-z_][A-Za-z0-9_]*)=(\S+)$/.exec(line);
    if (setting) env[setting[1] as string] = setting[2] as string;
    else if (line.startsWith('ENV ')) throw new Error(`an ENV line this bench cannot read (one KEY=VALUE per line): ${line}`);
  }
  return env;
}

/** The environment to run lbdns in: this process's, with the image's ENV unless LBDNS_IMAGE_ENV=none. */
export function lbdnsEnv(): NodeJS.ProcessEnv {
  return process.env.LBDNS_IMAGE_ENV === 'none' ? process.env : { ...process.env, ...imageEnv() };
}
