/**
 * GET /api/v1/nodes/<name> (RBAC: get on nodes), retried with backoff until it answers: the
 * node's zone for node-local mode (sources/node-zone.ts). Not a watch: a node's zone does not change while it runs.
 */
import type { Logger } from 'pino';
import type { Settings } from '../../settings/schema.ts';
import { loadKubeConfig } from './kube-config.ts';
import { getJson } from './api-get.ts';
import { describeApiError, statusOf } from './reflector.ts';

/** Resolves with the Node object, or null for a Node that does not exist or once `stopped()`. */
export async function readNode(settings: Settings, name: string, log: Logger, stopped: () => boolean): Promise<unknown> {
  for (let attempt = 1; !stopped(); attempt++) {
    try {
      return await getJson(loadKubeConfig(settings.kubeconfig).config, `/api/v1/nodes/${encodeURIComponent(name)}`);
    } catch (error) {
      const code = statusOf(error);
      if (code === 404) return null;
      const delay = Math.min(settings.kubernetes.retryMaxSeconds * 1000, 500 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
      log.error({ node: name, err: code === 403 ? `403 Forbidden: lbdns may not get nodes/${name}; check its ClusterRole` : describeApiError(error, 'nodes'), retryInMs: Math.round(delay) }, "cannot read this node's Node object; retrying");
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
    }
  }
  return null;
}
