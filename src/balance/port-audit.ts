/**
 * A records carry no port: a Service in endpoint mode whose port differs from its target port
 * sends A-record clients to the Service port on the pod, which may not listen there. Said once per
 * Service (and again when its ports change), and shown by /debug/balance.
 */
import type { Logger } from 'pino';
import type { Settings } from '../settings/schema.ts';
import type { ClusterView, ViewUpdate } from '../view/cluster-view.ts';
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

export function auditPorts(view: ClusterView, settings: () => Settings, log: Logger): (update: ViewUpdate) => void {
  const warned = new Map<string, string>();
  const check = (service: Service): void => {
    const key = `${service.namespace}/${service.name}`;
    const mapped = serviceBalance(service, settings()).endpointMode ? mappedPorts(service) : [];
    const signature = JSON.stringify(mapped);
    if (mapped.length === 0 || warned.get(key) === signature) return;
    warned.set(key, signature);
    log.warn({ service: key, ports: mapped }, 'Service in endpoint mode maps a port: clients that use A records must use the target port');
  };
  // Only a Service's own record can change its ports or mode: an update that is not a Service
  // costs nothing (it used to cost a pass over every Service of its namespace, per event).
  return (update) => {
    if (update.kind === 'replaceAll') for (const service of view.allServices()) check(service);
    else if (update.event.op === 'upsert' && update.event.kind === 'Service') check(update.event.record);
  };
}
