/**
 * How lbdns finds the API server: an explicit kubeconfig, else the pod's service account
 * (KUBERNETES_SERVICE_HOST/PORT, token and CA), else $KUBECONFIG or ~/.kube/config.
 */
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
  config.loadFromDefault();
  return { config, origin: env.KUBECONFIG ?? '~/.kube/config' };
}
