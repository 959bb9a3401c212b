/**
 * How lbdns finds the API server: an explicit kubeconfig, else the pod's service account
 * (KUBERNETES_SERVICE_HOST/PORT, token and CA), else $KUBECONFIG or ~/.kube/config.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export interface KubeConfigChoice {
  config: KubeConfig;
  /** For logs: where the credentials came from. */
  origin: string;
}

export function loadKubeConfig(kubeconfigPath: string | undefined, env: NodeJS.ProcessEnv = process.env): KubeConfigChoice {
  const config = new KubeConfig();
  if (kubeconfigPath) {
    config.loadFromFile(kubeconfigPath);
    return { config, origin: kubeconfigPath };
  }
  if (env.KUBERNETES_SERVICE_HOST) {
    // LBDNS_SERVICE_ACCOUNT_ROOT prefixes /var/run/secrets/…, for running outside a pod with
    // copied or projected service-account files.
    const root = env.LBDNS_SERVICE_ACCOUNT_ROOT ?? '';
    config.loadFromCluster(root);
    return { config, origin: `service account${root ? ` under ${root}` : ''}` };
  }
  // With no file to read, the client would fall back to http://localhost:8080 and lbdns would
  // retry it for ever: say what is missing instead.
  const files = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  const candidates = files.length > 0 ? files : [join(env.HOME || homedir(), '.kube', 'config')];
  if (!candidates.some((file) => existsSync(file))) {
    const missing = files.length > 0 ? `KUBECONFIG names no file that exists (${files.join(', ')})` : `KUBECONFIG is unset and there is no ${candidates[0]}`;
    throw new Error(`no Kubernetes credentials: not in a pod (KUBERNETES_SERVICE_HOST is unset), and ${missing}; give --kubeconfig FILE, or --objects FILE to serve objects from a file`);
  }
  config.loadFromDefault();
  return { config, origin: env.KUBECONFIG ?? '~/.kube/config' };
}
