/** The operations HTTP listener: liveness, readiness and metrics (and debug endpoints as they come). */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ListenAddress } from '../server/listen-address.ts';
import type { Metrics } from './metrics.ts';

export interface OpsState {
  /** True once the cluster view has its first complete data. */
  ready(): boolean;
}

export type OpsRoute = (request: IncomingMessage, url: URL, response: ServerResponse) => boolean;

function send(response: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  response.end(body);
}

export function sendJson(response: ServerResponse, status: number, value: unknown): void {
  send(response, status, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
}

export function listenOps(address: ListenAddress, state: OpsState, metrics: Metrics, log: Logger, routes: OpsRoute[] = []): Promise<Server> {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://ops');
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'method not allowed\n');
    switch (url.pathname) {
      case '/health':
        return send(response, 200, 'ok\n');
      case '/ready':
        return state.ready() ? send(response, 200, 'ready\n') : send(response, 503, 'not ready: the cluster view has not synced\n');
      case '/metrics':
        (metrics.beforeScrape?.() ?? Promise.resolve()).then(() => metrics.registry.metrics()).then(
          (text) => send(response, 200, text, metrics.registry.contentType),
          (error: Error) => send(response, 500, `${error.message}\n`),
        );
        return;
    }
    for (const route of routes) if (route(request, url, response)) return;
    send(response, 404, 'not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: address.port, host: address.host }, () => {
      server.off('error', reject);
      server.on('error', (error) => log.warn({ err: error.message }, 'ops listener error'));
      resolve(server);
    });
  });
}
