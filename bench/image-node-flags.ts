/**
 * The flags the image's ENTRYPOINT gives node and the environment its ENV lines set (Dockerfile),
 * so that the benches that measure memory and startup run lbdns as the image does.
 * LBDNS_NODE_FLAGS replaces the flags (space-separated; empty: none), e.g. to weigh another V8
 * flag or add --cpu-prof; LBDNS_IMAGE_ENV=none leaves the image's ENV out.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
