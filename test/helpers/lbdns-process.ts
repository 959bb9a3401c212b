/**
 * Starts the real `lbdns` CLI as a child process on a free loopback port, the way a user runs it,
 * and collects its JSON log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { loadNativeAddon } from '../../src/util/native-addon.ts';

export const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
export const demoObjects = join(projectRoot, 'config/demo-cluster.yaml');
export const demoSettings = join(projectRoot, 'config/lbdns.yaml');

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface RunningServer {
  port: number;
  /** The ops HTTP port (/health, /ready, /metrics). */
  opsPort: number;
  /** The debug HTTP port (/debug/balance), on 127.0.0.1. */
  debugPort: number;
  address: string;
  process: ChildProcess;
  logs: LogLine[];
  stderr: () => string;
  /** Resolves with the first log line matching, waiting up to `timeoutMs`. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGINT by default (no drain); SIGTERM drains for shutdown.drainSeconds first. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * The kernel's ephemeral port range: ports it hands to sockets bound to port 0, such as every
 * test client's. A port chosen inside it can be taken by one of them between the check and
 * lbdns's bind (seen in CI as EADDRINUSE), so test servers get ports below it.
 */
function ephemeralPortsStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

const serverPorts = { first: 10_000, last: Math.max(10_001, ephemeralPortsStart() - 1) };

function bindsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => {
      server.close(() => {
        const socket = createSocket('udp4');
        socket.once('error', () => resolve(false));
        socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
      });
    });
  });
}

/**
 * A port free on both UDP and TCP at 127.0.0.1, chosen at random below the ephemeral range so
 * that no client socket of a test running alongside can take it before the server binds it.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = serverPorts.first + Math.floor(Math.random() * (serverPorts.last - serverPorts.first + 1));
    if (await bindsFree(port)) return port;
  }
  throw new Error('no free port');
}

/** The folders tempFile made, removed when this process exits: none ever was, and 10,691 had piled up in this machine's /tmp. */
const tempFolders: string[] = [];
process.once('exit', () => {
  for (const folder of tempFolders) rmSync(folder, { recursive: true, force: true });
});

export function tempFile(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lbdns-test-'));
  tempFolders.push(dir);
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

export interface StartOptions {
  args?: string[];
  /** null: no objects file (the Kubernetes source). */
  objects?: string | null;
  /** null: no --config (a Corefile alone, say). */
  config?: string | null;
  /**
   * false: no --listen and --ops-listen flags, so that the settings (a Corefile) say where lbdns
   * listens; `port` and `opsPort` then name what they say, for the test to query.
   */
  listenFlags?: boolean;
  port?: number;
  opsPort?: number;
  env?: NodeJS.ProcessEnv;
  /** Wait for the "serving" line (default) or return at once. */
  waitUntilServing?: boolean;
  /**
   * Where names outside the zones go (--upstream). Default: 127.0.0.1:9, where nothing answers,
   * so that no test ever forwards to the machine's own resolv.conf; null: no flag, for a settings
   * file that lists its own loopback upstreams.
   */
  upstream?: string | null;
  /**
   * Serving threads (--workers). Default 1: caches, coalescing and rate limits are per worker,
   * and tests of them need every query to meet the same one.
   */
  workers?: number;
  /**
   * UDP I/O (--io). Default: $LBDNS_TEST_IO when set (LBDNS_TEST_IO=dgram npm test runs the
   * suite through node:dgram), else the settings' (auto: batched when the addon is built).
   */
  io?: 'auto' | 'batch' | 'dgram';
  /** The lbdns checkout to run (its bin/lbdns.js); default this one. */
  root?: string;
}

/** The two UDP I/O paths, for tests that must pass through both. */
export const UDP_IOS = ['batch', 'dgram'] as const;

/**
 * For `describe(…, { skip })`: why what needs the native addon cannot run here (it is not built,
 * which needs python3, make and g++), or false; never under CI, which installs them and must test it.
 */
export function skipWithoutNativeAddon(): string | false {
  if (process.env.CI || !(loadNativeAddon() instanceof Error)) return false;
  return 'the native addon is not built (npm run build:addon; needs python3, make and g++)';
}

/** For `describe(…, { skip })`: why `io` cannot run here (batch without the native addon), or false. */
export function skipUdpIo(io: (typeof UDP_IOS)[number]): string | false {
  return io === 'batch' && skipWithoutNativeAddon();
}

export async function startLbdns(options: StartOptions = {}): Promise<RunningServer> {
  // Two test files may still pick the same free port at the same moment: when lbdns chose
  // neither port itself, a start lost to that race is tried again on new ones.
  const portsChosenHere = options.port === undefined && options.opsPort === undefined && options.listenFlags !== false;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      if (!portsChosenHere || attempt === 3 || !String(error).includes('EADDRINUSE')) throw error;
    }
  }
}

async function startOnce(options: StartOptions): Promise<RunningServer> {
  const port = options.port ?? (await freePort());
  const opsPort = options.opsPort ?? (await freePort());
  const debugPort = await freePort();
  const args = [join(options.root ?? projectRoot, 'bin/lbdns.js'), '--debug-listen', `127.0.0.1:${debugPort}`, '--log-level', 'debug'];
  if (options.listenFlags !== false) args.push('--listen', `127.0.0.1:${port}`, '--ops-listen', `127.0.0.1:${opsPort}`);
  if (options.config !== null) args.push('--config', options.config ?? demoSettings);
  if (options.objects !== null) args.push('--objects', options.objects ?? demoObjects);
  if (options.upstream !== null) args.push('--upstream', options.upstream ?? '127.0.0.1:9');
  args.push('--workers', String(options.workers ?? 1));
  const io = options.io ?? process.env.LBDNS_TEST_IO;
  if (io) args.push('--io', io);
  args.push(...(options.args ?? []));
  const child = spawn(process.execPath, args, { cwd: projectRoot, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  let stderrText = '';
  let buffered = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderrText += chunk;
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        continue;
      }
      logs.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const server: RunningServer = {
    port,
    opsPort,
    debugPort,
    address: '127.0.0.1',
    process: child,
    logs,
    stderr: () => stderrText,
    waitForLog(match, timeoutMs = 10_000) {
      const found = logs.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; stderr:\n${stderrText}`)), timeoutMs);
        waiters.push({
          match,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`lbdns exited; stderr:\n${stderrText}`));
        });
      });
    },
    async stop(signal: NodeJS.Signals = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  if (options.waitUntilServing !== false) {
    try {
      // Generous: a loaded machine starts slowly, and this waits for a line, not for a deadline.
      await server.waitForLog((l) => l.msg === 'serving DNS over UDP and TCP', 30_000);
    } catch (error) {
      // A server that never said it serves must not outlive the test: its pipes would keep the run alive.
      await server.stop('SIGKILL');
      throw error;
    }
  }
  return server;
}
