/**
 * Which of a Service's ports reach the pods on another port number: `targetPort` a different
 * number, or a container port name whose number (read from the EndpointSlices' ports, which carry
 * the Service port's name) differs. A records carry no port, so such a Service's clients would
 * dial the Service port on a pod that listens elsewhere.
 */
import type { EndpointPort, Service } from './types.ts';

export interface PortMapping {
  name: string;
  port: number;
  targetPort: number | string;
  /**
   * The pods' port numbers a named targetPort resolves to through the EndpointSlices; empty when
   * no slice names it (it cannot be checked, so it counts as differing).
   */
  resolved?: number[];
}

/** The ports that map to another number; empty when every port reaches the pods unchanged. */
export function mappedPorts(service: Service, groups: ReadonlyArray<{ ports: readonly EndpointPort[] }>): PortMapping[] {
  const mapped: PortMapping[] = [];
  for (const port of service.ports) {
    if (port.targetPort === null) continue;
    if (typeof port.targetPort === 'number') {
      if (port.targetPort !== port.port) mapped.push({ name: port.name, port: port.port, targetPort: port.targetPort });
      continue;
    }
    const resolved = new Set<number>();
    for (const group of groups) {
      for (const sliced of group.ports) if (sliced.name === port.name && sliced.protocol === port.protocol) resolved.add(sliced.port);
    }
    if (resolved.size === 1 && resolved.has(port.port)) continue;
    mapped.push({ name: port.name, port: port.port, targetPort: port.targetPort, resolved: [...resolved].sort((a, b) => a - b) });
  }
  return mapped;
}
