/**
 * The operations HTTP listeners: liveness, readiness and metrics on the ops address (probes and
 * Prometheus reach it, so it may listen on every address), debug routes on their own address.
 * Any pod may send anything to them: nothing a request holds may throw out of the handler.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ListenAddress } from '../server/listen-address.ts';
import type { Metrics } from './metrics.ts';
import { listening } from '../net/listening.ts';

export interface OpsState {
  /** True once the cluster view has its first complete data. */
  ready(): boolean;
}

/** A request target split into its path and query, as far as routing needs. */
export interface RequestTarget {
  /** As sent (not percent-decoded): routes are plain ASCII and compared as they are. */
  pathname: string;
  searchParams: URLSearchParams;
}

/** Answers the request and returns true, or returns false to let the next route look at it. */
export type OpsRoute = (request: IncomingMessage, target: RequestTarget, response: ServerResponse) => boolean;

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\//i;
/** RFC 3986's path characters: `[`, `]`, `{`, a stray `%` … mark a malformed target. */
const PATH = /^(?:[a-z0-9\-._~!$&'()*+,;=:@/]|%[0-9a-f]{2})*$/i;
const BAD_PERCENT_ESCAPE = /%(?![0-9a-f]{2})/i;

/**
 * Origin-form (`/path?query`) or absolute-form (`http://host/path?query`, which servers must
 * accept); null for anything else or a malformed one. Never throws: `new URL` on an origin-form
 * target would read `//[` as a host, and throw.
 */
export function parseRequestTarget(target: string): RequestTarget | null {
  let pathAndQuery: string;
  if (target.startsWith('/')) {
    pathAndQuery = target;
  } else if (ABSOLUTE_FORM.test(target)) {
    const url = URL.parse(target);
    if (!url) return null;
    pathAndQuery = `${url.pathname}${url.search}`;
  } else {
    return null;
  }
  const [pathname, query = ''] = pathAndQuery.split('#', 1)[0]!.split(/\?(.*)/s, 2);
  if (!PATH.test(pathname!) || BAD_PERCENT_ESCAPE.test(query)) return null;
  return { pathname: pathname!, searchParams: new URLSearchParams(query) };
}

function send(response: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  response.end(body);
}

export function sendJson(response: ServerResponse, status: number, value: unknown): void {
  send(response, status, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
}

/** A route that failed is a bug, not the client's doing: 500, and a log line to find it by. */
function routeFailed(request: IncomingMessage, response: ServerResponse, error: unknown, log: Logger): void {
  log.error({ path: (request.url ?? '').slice(0, 200), err: error instanceof Error ? error.message : String(error) }, 'ops request failed');
  if (!response.headersSent) send(response, 500, 'internal error\n');
  else response.destroy();
}

/** /health, /ready and /metrics. */
export function opsRoutes(state: OpsState, metrics: Metrics, log: Logger): OpsRoute[] {
  return [
    (_request, target, response) => {
      if (target.pathname !== '/health') return false;
      send(response, 200, 'ok\n');
      return true;
    },
    (_request, target, response) => {
      if (target.pathname !== '/ready') return false;
      if (state.ready()) send(response, 200, 'ready\n');
      else send(response, 503, 'not ready: the cluster view has not synced\n');
      return true;
    },
    (request, target, response) => {
      if (target.pathname !== '/metrics') return false;
      Promise.resolve()
        .then(() => metrics.scrape())
        .then((text) => send(response, 200, text, metrics.registry.contentType))
        .catch((error: unknown) => routeFailed(request, response, error, log));
      return true;
    },
  ];
}

export function listenHttp(address: ListenAddress, routes: OpsRoute[], log: Logger): Promise<Server> {
  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const target = parseRequestTarget(request.url ?? '');
    if (!target) return send(response, 400, 'malformed request target\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'method not allowed\n');
    for (const route of routes) if (route(request, target, response)) return;
    send(response, 404, 'not found\n');
  };
  const server = createServer((request, response) => {
    try {
      handle(request, response);
    } catch (error) {
      routeFailed(request, response, error, log);
    }
  });
  return listening(
    server,
    (bound) => server.listen({ port: address.port, host: address.host }, bound),
    (error) => log.warn({ err: error.message }, 'ops listener error'),
  );
}
