/**
 * GETs of the Kubernetes API: a list page's JSON body as plain data (getJson), and a watch's
 * stream of events (watchEvents). The credentials and TLS settings are
 * the client's own (`KubeConfig.applyToHTTPSOptions`: tokens, exec plugins, client certificates,
 * CA, proxies); a status other than 200 is its ApiException, with the status code the reflector
 * reads. Not through the client's typed APIs: they turn every object into class instances (dates
 * parsed, every field copied), and the image's bundle would have to carry them (the generated
 * CoreV1Api and the layers over every API: ~3 MB of code held in memory) for calls that need none
 * of it.
 *
 * Sent by node:http(s), not by the client's fetch (undici): a first list of 100,000 endpoints is
 * 32 MB of JSON in 40 pages, and fetch's web streams and text decoding cost ~20% more CPU per
 * page than reading the body as Buffers and decoding it once; and the client's fetch made a new
 * connection pool for each request to an https server (a TLS handshake per page, each left open).
 * One keep-alive agent per KubeConfig carries every page over the same connection instead, and
 * every watch: the client's Watch also made a connection pool per watch, so each watch restart
 * (every 5 to 10 min per kind, and after every error) cost a TLS handshake and left a pool behind.
 */
import { Agent as HttpAgent, type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions, type RequestOptions, request as httpsRequest } from 'node:https';
import { ApiException, type KubeConfig } from '@kubernetes/client-node';

/** As long as lbdns waits for a byte of a response (the client's fetch waited as long). */
const RESPONSE_IDLE_MS = 300_000;

/** One keep-alive agent per KubeConfig (a reload of the credentials makes a new KubeConfig). */
const agents = new WeakMap<KubeConfig, HttpAgent>();

/**
 * The TLS settings the client put in `options`, only those it set: a key given as undefined would
 * override TLS's default, and `rejectUnauthorized: undefined` would accept any certificate.
 */
function tlsSettings(options: RequestOptions): AgentOptions {
  const settings: AgentOptions = {};
  for (const name of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const) {
    if (options[name] !== undefined) (settings as Record<string, unknown>)[name] = options[name];
  }
  return settings;
}

/**
 * The agent `config`'s requests share, built once from the TLS settings the client put in
 * `options`. Behind a proxy, the client's own agent (it speaks the proxy's protocol).
 */
function agentFor(config: KubeConfig, https: boolean, options: RequestOptions): HttpAgent | undefined {
  if (config.getCurrentCluster()?.proxyUrl) return options.agent as HttpAgent | undefined;
  let agent = agents.get(config);
  if (agent === undefined) {
    // Sockets idle this long are closed, so that an agent left behind by a reload holds none for long.
    const common = { keepAlive: true, timeout: 60_000 };
    agent = https ? new HttpsAgent({ ...common, ...tlsSettings(options) }) : new HttpAgent(common);
    agents.set(config, agent);
  }
  return agent;
}

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(url: URL, options: RequestOptions): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('close', () => {
        if (!response.complete) reject(new Error(`the API server closed the response to ${url.pathname} before its end`));
      });
      // Decoded once, whole: a page is one string for JSON.parse either way.
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.setTimeout(RESPONSE_IDLE_MS, () => request.destroy(new Error(`no response from the API server to ${url.pathname} for ${RESPONSE_IDLE_MS / 1000} s`)));
    request.on('error', reject);
    request.end();
  });
}

/** The URL of `path` (with `query`, as search parameters) on the current cluster, and the request options with the client's credentials. */
async function prepare(config: KubeConfig, path: string, query: Record<string, string | undefined>): Promise<{ url: URL; options: RequestOptions }> {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('No active cluster!');
  const url = new URL(cluster.server + path);
  for (const [name, value] of Object.entries(query)) if (value) url.searchParams.set(name, value);
  const options: RequestOptions = {};
  await config.applyToHTTPSOptions(options);
  options.headers = { ...options.headers, Accept: 'application/json', 'User-Agent': 'lbdns' };
  options.agent = agentFor(config, url.protocol === 'https:', options);
  return { url, options };
}

/** GETs `path` (with `query`, as search parameters) from the current cluster; resolves with the parsed body. */
export async function getJson(config: KubeConfig, path: string, query: Record<string, string | undefined> = {}): Promise<unknown> {
  const { url, options } = await prepare(config, path, query);
  const response = await send(url, options);
  if (response.status !== 200) {
    const headers = Object.fromEntries(Object.entries(response.headers).map(([name, value]) => [name, String(value)]));
    throw new ApiException(response.status, `HTTP ${response.status} from ${path}: ${response.body.slice(0, 200)}`, response.body, headers);
  }
  return JSON.parse(response.body) as unknown;
}

/**
 * The longest watch event lbdns takes (one line of the stream): far above any object the API
 * server stores (etcd's limit is 1.5 MiB a value), so only a stream that never ends its line
 * reaches it, and is cut instead of growing without bound.
 */
const MAX_EVENT_BYTES = 16 * 1024 * 1024;

/** A watch that ended with a status other than 200: the code the reflector reads (statusOf). */
export class WatchStatusError extends Error {
  readonly statusCode: number;
  constructor(path: string, statusCode: number, body: string) {
    super(`HTTP ${statusCode} from a watch of ${path}: ${body.slice(0, 200)}`);
    this.statusCode = statusCode;
  }
}

/**
 * Watches `path` (`watch=true` and `query`): `onEvent` gets each event's type and object, in
 * order; `onDone` is called once, when the stream ends (null: the API server closed it, or
 * `abort` was called) or fails: a status other than 200 (WatchStatusError), the connection, an
 * event longer than MAX_EVENT_BYTES, an `onEvent` that throws, or no byte for `idleMs` (an error
 * named TimeoutError: a hung watch; bookmarks keep a healthy quiet one alive). A line that is not
 * JSON is skipped. Resolves with the way to abort it once the API server answered 200 (the watch
 * is live), or once it is done if it never was.
 */
export async function watchEvents(
  config: KubeConfig,
  path: string,
  query: Record<string, string | undefined>,
  idleMs: number,
  onEvent: (type: string, object: unknown) => void,
  onDone: (error: Error | null) => void,
): Promise<{ abort: () => void }> {
  const { url, options } = await prepare(config, path, { ...query, watch: 'true' });
  return new Promise((resolve) => {
    let done = false;
    /** The response arrived whole: its connection goes back to the agent for the next request. */
    let complete = false;
    const control = { abort: () => finish(null) };
    const finish = (error: Error | null): void => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      if (!complete) request.destroy();
      resolve(control);
      onDone(error);
    };
    const timedOut = (): void => {
      const error = new Error(`no byte from the watch of ${path} for ${idleMs / 1000} s`);
      error.name = 'TimeoutError';
      finish(error);
    };
    let idle = setTimeout(timedOut, idleMs);
    const stillAlive = (): void => {
      clearTimeout(idle);
      idle = setTimeout(timedOut, idleMs);
    };
    const deliver = (line: Buffer): void => {
      let event: { type?: unknown; object?: unknown };
      try {
        event = JSON.parse(line.toString('utf8')) as { type?: unknown; object?: unknown };
      } catch {
        return;
      }
      if (typeof event?.type !== 'string') return;
      try {
        onEvent(event.type, event.object);
      } catch (error) {
        finish(error as Error);
      }
    };
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (response) => {
      stillAlive();
      const chunks: Buffer[] = [];
      let pending = 0;
      response.on('error', finish);
      if (response.statusCode !== 200) {
        response.on('data', (chunk: Buffer) => {
          if (pending < 4096) chunks.push(chunk);
          pending += chunk.length;
        });
        const failed = () => finish(new WatchStatusError(path, response.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        response.on('end', () => {
          complete = true;
          failed();
        });
        response.on('close', failed);
        return;
      }
      resolve(control);
      response.on('data', (chunk: Buffer) => {
        stillAlive();
        let start = 0;
        for (let newline = chunk.indexOf(10); newline !== -1 && !done; newline = chunk.indexOf(10, start)) {
          chunks.push(chunk.subarray(start, newline));
          const line = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          chunks.length = 0;
          pending = 0;
          start = newline + 1;
          deliver(line);
        }
        if (start < chunk.length && !done) {
          chunks.push(chunk.subarray(start));
          pending += chunk.length - start;
          if (pending > MAX_EVENT_BYTES) finish(new Error(`a watch event of ${path} longer than ${MAX_EVENT_BYTES} bytes`));
        }
      });
      response.on('end', () => {
        complete = true;
        finish(null);
      });
      response.on('close', () => finish(null));
    });
    request.on('error', finish);
    request.end();
  });
}
