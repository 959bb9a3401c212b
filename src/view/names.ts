/** The DNS names the Kubernetes DNS specification gives the view's objects. */
import type { Service } from './types.ts';

/** `<service>.<namespace>.svc.<zone>`: the name a Service is answered under. */
export function serviceFqdn(service: Pick<Service, 'name' | 'namespace'>, zone: string): string {
  return `${service.name}.${service.namespace}.svc.${zone}`;
}

/**
 * The label an endpoint address answers to below its Service's name: its hostname, its pod's name
 * (opt-in, when it fits a label), or its IP with dashes (`10-1-2-3`, `fd00--1`).
 */
export function endpointHostname(hostname: string | null, podName: string | null, address: string, usePodNames: boolean): string {
  if (hostname) return hostname;
  if (usePodNames && podName && podName.length < 64) return podName;
  if (address.includes('.')) return address.replaceAll('.', '-');
  const dashed = address.replaceAll(':', '-');
  return dashed.endsWith('-') ? `${dashed}0` : dashed;
}
