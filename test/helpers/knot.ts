/** Starts knotd (Debian's authoritative server) on loopback with the zones a test gives it. */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './lbdns-process.ts';
import { query } from './dns-client.ts';

export function haveKnot(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v knotd'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A knotd configuration: one worker of each kind, zone files `<zone>.zone` in `zoneDir`. */
export function knotConfig(zoneDir: string, storage: string, port: number, zones: string[]): string {
  return [
    'server:',
    `    rundir: "${storage}"`,
    `    listen: 127.0.0.1@${port}`,
    '    udp-workers: 1',
    '    tcp-workers: 1',
    '    background-workers: 1',
    'log:',
    '  - target: stderr',
    '    any: error',
    'database:',
    `    storage: "${storage}"`,
    'template:',
    '  - id: default',
    `    storage: "${zoneDir}"`,
    '    semantic-checks: off',
    'zone:',
    ...zones.flatMap((zone) => [`  - domain: ${zone}`, `    file: ${zone}.zone`]),
  ].join('\n');
}

export interface Knot {
  port: number;
  stop(): Promise<void>;
}

/** `zones`: zone name → zone file text. Resolves once knot answers the first zone's SOA. */
export async function startKnot(zones: Record<string, string>): Promise<Knot> {
  const dir = mkdtempSync(join(tmpdir(), 'lbdns-knot-'));
  const storage = join(dir, 'db');
  mkdirSync(storage);
  const port = await freePort();
  for (const [zone, text] of Object.entries(zones)) writeFileSync(join(dir, `${zone}.zone`), text);
  const config = knotConfig(dir, storage, port, Object.keys(zones));
  writeFileSync(join(dir, 'knot.conf'), config);
  const child: ChildProcess = spawn('knotd', ['-c', join(dir, 'knot.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const first = Object.keys(zones)[0] as string;
  for (let i = 0; i < 100; i++) {
    try {
      const reply = await query(port, first, 'SOA', { timeoutMs: 200 });
      if (reply.answers?.length) break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    port,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
