/**
 * Splitting a name below a cluster zone the way the Kubernetes DNS specification lays it out
 * (and CoreDNS's parse.go reads it): from the right, `svc|pod`, namespace, service, then either an
 * endpoint label or `_port._protocol`.
 */

export interface ClusterRequest {
  /** 'svc', 'pod', or '' for names that exist without records (the apex, `svc.Z`, `pod.Z`). */
  podOrSvc: '' | 'svc' | 'pod';
  namespace: string;
  service: string;
  endpoint: string;
  port: string;
  protocol: string;
}

const stripUnderscore = (label: string): string => (label.startsWith('_') ? label.slice(1) : label);

/** `labels` are the lowercase labels left of the zone. Returns null for names that cannot exist. */
export function parseClusterName(labels: string[]): ClusterRequest | null {
  const request: ClusterRequest = { podOrSvc: '', namespace: '', service: '', endpoint: '', port: '', protocol: '' };
  let last = labels.length - 1;
  if (last < 0) return request;
  const kind = labels[last] as string;
  if (kind !== 'svc' && kind !== 'pod') return null;
  if (last === 0) return request;
  request.podOrSvc = kind;
  request.namespace = labels[--last] as string;
  if (last === 0) return request;
  request.service = labels[--last] as string;
  switch (last) {
    case 0:
      return request;
    case 1:
      request.endpoint = labels[0] as string;
      return request;
    case 2:
      request.port = stripUnderscore(labels[0] as string);
      request.protocol = stripUnderscore(labels[1] as string);
      return request;
    default:
      return null;
  }
}

/** The IP a pod label like `10-1-2-3` or `fd00--1` stands for (not yet validated). */
export function podLabelToIp(label: string): string {
  const dashes = label.split('-').length - 1;
  if (dashes === 3 && !label.includes('--')) return label.replaceAll('-', '.');
  return label.replaceAll('-', ':');
}
