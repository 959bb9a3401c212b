/**
 * A records carry no port: a Service in endpoint mode whose port differs from its target port
 * sends A-record clients to the Service port on the pod, which may not listen there. Said once per
 * Service (and again when its ports change), and shown by /debug/balance.
 */
import type { Logger } from 'pino';
import type { Settings } from '../settings/schema.ts';
import type { ClusterView, ViewChange } from '../view/cluster-view.ts';
import type { Service } from '../view/types.ts';
import { serviceBalance } from './policy.ts';

export interface PortMapping {
  name: string;
  port: number;
  targetPort: number | string;
}

export function mappedPorts(service: Service): PortMapping[] {
  return service.ports.filter((p) => p.targetPort !== null).map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort as number | string }));
}

export function auditPorts(view: ClusterView, settings: () => Settings, log: Logger): (change: ViewChange) => void {
  const warned = new Map<string, string>();
  const check = (service: Service): void => {
    const key = `${service.namespace}/${service.name}`;
    const mapped = serviceBalance(service, settings()).endpointMode ? mappedPorts(service) : [];
    const signature = JSON.stringify(mapped);
    if (mapped.length === 0 || warned.get(key) === signature) return;
    warned.set(key, signature);
    log.warn({ service: key, ports: mapped }, 'Service in endpoint mode maps a port: clients that use A records must use the target port');
  };
  return (change) => {
    if (change.scope === 'service') {
      const service = view.service(change.namespace, change.service);
      if (service) check(service);
      return;
    }
    for (const service of view.allServices()) if (change.scope === 'all' || service.namespace === change.namespace) check(service);
  };
}
