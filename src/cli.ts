/**
 * `lbdns`: reads settings and flags, builds the cluster view from its source, and serves DNS
 * over UDP and TCP until SIGTERM or SIGINT.
 */
import { parseArgs } from 'node:util';
import type { Socket } from 'node:dgram';
import type { Server } from 'node:net';
import { createLogger } from './log.ts';
import { loadSettings } from './settings/load.ts';
import { SettingsError, type Settings } from './settings/schema.ts';
import { ClusterView } from './view/cluster-view.ts';
import { ObjectsFileError, watchObjectsFile } from './sources/objects-file.ts';
import { ZoneRouter } from './resolve/router.ts';
import { QueryHandler } from './server/handler.ts';
import { formatListenAddress, parseListenAddress } from './server/listen-address.ts';
import { ownAddresses } from './server/own-addresses.ts';
import { listenUdp } from './server/udp.ts';
import { listenTcp } from './server/tcp.ts';

const USAGE = `Usage: lbdns [--config FILE] [--objects FILE] [--listen HOST:PORT]... [--zone NAME]... [--log-level LEVEL]

  --config FILE      YAML settings (see config/lbdns.yaml); flags override it
  --objects FILE     Kubernetes objects to serve (kubectl get -o yaml output, multi-document YAML or JSON)
  --listen HOST:PORT address to serve UDP and TCP on (repeatable; default 0.0.0.0:53)
  --zone NAME        cluster zone to serve (repeatable; default cluster.local)
  --log-level LEVEL  fatal, error, warn, info, debug, trace or silent (default info)
`;

function readFlags(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      objects: { type: 'string' },
      listen: { type: 'string', multiple: true },
      zone: { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  return values;
}

export async function main(argv: string[]): Promise<void> {
  let flags;
  let settings: Settings;
  try {
    flags = readFlags(argv);
    if (flags.help) {
      process.stdout.write(USAGE);
      return;
    }
    settings = loadSettings(flags.config, { objects: flags.objects, listen: flags.listen, zone: flags.zone, logLevel: flags['log-level'] });
  } catch (error) {
    process.stderr.write(`lbdns: ${(error as Error).message}\n${error instanceof SettingsError ? '' : USAGE}`);
    process.exitCode = 2;
    return;
  }

  const log = createLogger(settings.logLevel);
  const view = new ClusterView();
  const listen = settings.listen.map(parseListenAddress);
  const serverIps = ownAddresses(listen);
  const router = new ZoneRouter({ view, settings, serverAddresses: () => serverIps });
  const state = { ready: false };
  const handler = new QueryHandler(router, settings, state, log);
  view.onChange(() => handler.invalidate());

  if (!settings.objects) {
    log.fatal('no cluster source: give --objects FILE (the Kubernetes API source comes with the watch support)');
    process.exitCode = 2;
    return;
  }
  let source;
  try {
    source = watchObjectsFile(settings.objects, log, (objects) => view.replaceAll(objects));
  } catch (error) {
    log.fatal({ err: (error as Error).message }, error instanceof ObjectsFileError ? 'objects file rejected' : 'cannot start the objects source');
    process.exitCode = 1;
    return;
  }
  state.ready = true;

  const sockets: Socket[] = [];
  const servers: Server[] = [];
  try {
    for (const address of listen) {
      sockets.push(await listenUdp(address, handler, log));
      servers.push(await listenTcp(address, handler, log));
      log.info({ listen: formatListenAddress(address), zones: settings.zones }, 'serving DNS over UDP and TCP');
    }
  } catch (error) {
    log.fatal({ err: (error as Error).message }, 'cannot listen');
    process.exit(1);
  }

  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping');
    source.close();
    for (const socket of sockets) socket.close();
    for (const server of servers) server.close();
    log.flush();
    setTimeout(() => process.exit(0), 50).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

await main(process.argv.slice(2));
