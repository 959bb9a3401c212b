/**
 * The flags the image's ENTRYPOINT gives node (Dockerfile), so that the benches that measure
 * memory and startup run lbdns as the image does. LBDNS_NODE_FLAGS replaces them (space-separated;
 * empty: none), e.g. to weigh another V8 flag or add --cpu-prof.
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
