/**
 * lbdns's resolver in process, without sockets or a child process: Kubernetes objects → the
 * cluster view → the zone router → the query handler, asked with real DNS query bytes and read
 * back with dns-packet. Only the public entry point of each module is used (objects text, view,
 * router, handler), so tests built on it survive code moving between files: a move changes the
 * imports here, not the tests.
 */
import { pino } from 'pino';
import { parseObjectsText } from '../../src/sources/objects-file.ts';
import { ClusterView } from '../../src/view/cluster-view.ts';
import { parseSettings } from '../../src/settings/schema.ts';
import { ZoneRouter } from '../../src/resolve/router.ts';
import { QueryHandler } from '../../src/server/handler.ts';
import { type DnsRecord, type Packet, type QueryOptions, buildQuery, decode } from './dns-client.ts';

/** The SOA serial every in-process view reports, so that expected SOA records can be written out. */
export const TEST_SERIAL = 1_700_000_000;

export interface InProcessOptions {
  /** Raw settings, as a settings file would hold them. */
  settings?: Record<string, unknown>;
  /** The addresses the server answers on (NS records and their glue). */
  serverAddresses?: string[];
}

export interface InProcessResolver {
  /** Sends one query through the handler as `client` would (TCP by default: no size limit) and decodes the answer. */
  ask(qname: string, type: string, options?: QueryOptions & { client?: string; transport?: 'udp' | 'tcp' }): Packet;
  /** The raw response bytes, or null when the handler sends nothing. */
  exchange(request: Buffer, options?: { client?: string; transport?: 'udp' | 'tcp' }): Buffer | null;
}

/** Objects as `kubectl get -o json` lists them. */
export function objectsList(items: unknown[]): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

export function inProcessResolver(items: unknown[], options: InProcessOptions = {}): InProcessResolver {
  const settings = parseSettings({ workers: 1, ...options.settings });
  const view = new ClusterView();
  view.replaceAll(parseObjectsText(objectsList(items), 'test objects').objects);
  view.serial = TEST_SERIAL;
  const serverAddresses = options.serverAddresses ?? ['127.0.0.1'];
  const router = new ZoneRouter({ view, settings, serverAddresses: () => serverAddresses });
  const handler = new QueryHandler({ router, settings, state: { ready: true }, log: pino({ level: 'silent' }), view });
  const exchange = (request: Buffer, { client = '127.0.0.1', transport = 'tcp' }: { client?: string; transport?: 'udp' | 'tcp' } = {}): Buffer | null => {
    const response = handler.handle(request, transport, client);
    if (response instanceof Promise) throw new Error('no forwarder in process: nothing may wait for an upstream');
    return response;
  };
  return {
    exchange,
    ask(qname, type, queryOptions = {}) {
      const response = exchange(buildQuery(qname, type, queryOptions), queryOptions);
      if (response === null) throw new Error(`no response for ${qname} ${type}`);
      return decode(response);
    },
  };
}

const absolute = (name: string): string => (name.endsWith('.') ? name : `${name}.`);

/** A record in zone-file presentation, as dig prints it: `owner. TTL CLASS TYPE data`. */
export function presentRecord(record: DnsRecord): string {
  const data = record.data as never;
  let text: string;
  switch (record.type) {
    case 'A':
    case 'AAAA':
      text = String(data);
      break;
    case 'CNAME':
    case 'NS':
    case 'PTR':
      text = absolute(String(data));
      break;
    case 'SRV': {
      const { priority, weight, port, target } = data as { priority: number; weight: number; port: number; target: string };
      text = `${priority} ${weight} ${port} ${absolute(target)}`;
      break;
    }
    case 'TXT':
      text = (data as Buffer[]).map((part) => JSON.stringify(part.toString())).join(' ');
      break;
    case 'HINFO': {
      const { cpu, os } = data as { cpu: string; os: string };
      text = `${JSON.stringify(cpu)} ${JSON.stringify(os)}`;
      break;
    }
    case 'SOA': {
      const s = data as { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number };
      text = `${absolute(s.mname)} ${absolute(s.rname)} ${s.serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minimum}`;
      break;
    }
    default:
      text = JSON.stringify(data);
  }
  return `${absolute(record.name)} ${record.ttl} ${String(record.class ?? 'IN')} ${record.type} ${text}`;
}
