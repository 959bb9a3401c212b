/** The DNS names the Kubernetes DNS specification gives the view's objects. */
import type { Service } from './types.ts';

/** `<service>.<namespace>.svc.<zone>`: the name a Service is answered under. */
export function serviceFqdn(service: Pick<Service, 'name' | 'namespace'>, zone: string): string {
  return `${service.name}.${service.namespace}.svc.${zone}`;
}
