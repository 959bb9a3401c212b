/**
 * A GET of the Kubernetes API, its JSON body as plain data. The credentials and TLS settings are
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
 * One keep-alive agent per KubeConfig carries every page over the same connection instead.
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

/** GETs `path` (with `query`, as search parameters) from the current cluster; resolves with the parsed body. */
export async function getJson(config: KubeConfig, path: string, query: Record<string, string | undefined> = {}): Promise<unknown> {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('No active cluster!');
  const url = new URL(cluster.server + path);
  for (const [name, value] of Object.entries(query)) if (value) url.searchParams.set(name, value);
  const options: RequestOptions = {};
  await config.applyToHTTPSOptions(options);
  options.headers = { ...options.headers, Accept: 'application/json', 'User-Agent': 'lbdns' };
  options.agent = agentFor(config, url.protocol === 'https:', options);
  const response = await send(url, options);
  if (response.status !== 200) {
    const headers = Object.fromEntries(Object.entries(response.headers).map(([name, value]) => [name, String(value)]));
    throw new ApiException(response.status, `HTTP ${response.status} from ${path}: ${response.body.slice(0, 200)}`, response.body, headers);
  }
  return JSON.parse(response.body) as unknown;
}
