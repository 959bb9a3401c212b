/**
 * A GET of the Kubernetes API, its JSON body as plain data. The request is the client's own
 * (credentials, TLS, its HTTP library), as its Watch makes it; a status other than 200 is its
 * ApiException, with the status code the reflector reads. Not through the client's typed APIs:
 * they turn every object into class instances (dates parsed, every field copied), and the image's
 * bundle would have to carry them (the generated CoreV1Api and the layers over every API: ~3 MB of
 * code held in memory) for two calls that need none of it.
 */
import { ApiException, HttpMethod, RequestContext, createConfiguration, type KubeConfig } from '@kubernetes/client-node';

/** GETs `path` (with `query`, as search parameters) from the current cluster; resolves with the parsed body. */
export async function getJson(config: KubeConfig, path: string, query: Record<string, string | undefined> = {}): Promise<unknown> {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('No active cluster!');
  const url = new URL(cluster.server + path);
  for (const [name, value] of Object.entries(query)) if (value) url.searchParams.set(name, value);
  const request = new RequestContext(url.toString(), HttpMethod.GET);
  request.setHeaderParam('Accept', 'application/json');
  request.setHeaderParam('User-Agent', 'lbdns');
  await config.applySecurityAuthentication(request);
  const response = await createConfiguration().httpApi.send(request).toPromise();
  const text = await response.body.text();
  if (response.httpStatusCode !== 200) throw new ApiException(response.httpStatusCode, `HTTP ${response.httpStatusCode} from ${path}: ${text.slice(0, 200)}`, text, response.headers);
  return JSON.parse(text) as unknown;
}
