/**
 * A records carry no port: a Service in endpoint mode whose port maps to another target port
 * keeps its ClusterIP in A/AAAA answers (resolve/cluster-lookup.ts), unless its
 * `lbdns.io/ignore-target-port: "true"` annotation asks for endpoints anyway. This audit says so
 * once per Service and per change of it (its record, its endpoint objects, or the settings
 * switching endpoint mode), counts them for the `lbdns_port_mismatch_services` gauge, and never
 * runs for a query.
 */
import type { Logger } from 'pino';
import type { Settings } from '../settings/schema.ts';
import type { ClusterView, ViewChange, ViewUpdate } from '../view/cluster-view.ts';
import type { PortMapping } from '../view/port-map.ts';
import { type Service, serviceKey } from '../view/types.ts';
import { Annotation, ignoresTargetPort, serviceBalance } from './policy.ts';

export type { PortMapping };

/** What a Service in endpoint mode answers A/AAAA with when a port maps; null when none maps or it is not in endpoint mode. */
export type AddressAnswer = 'clusterIP' | 'endpoints';

export function addressAnswer(view: ClusterView, service: Service, settings: Settings): { answer: AddressAnswer; mapped: readonly PortMapping[] } | null {
  if (!serviceBalance(service, settings).endpointMode) return null;
  const mapped = view.portMappings(service);
  if (mapped.length === 0) return null;
  return { answer: ignoresTargetPort(service) ? 'endpoints' : 'clusterIP', mapped };
}

export interface PortAudit {
  /** For ClusterView.onUpdate: a Service's own record came or went. */
  onUpdate(update: ViewUpdate): void;
  /** For ClusterView.onChange: a Service's endpoint objects changed (named ports resolve through them), or everything did. */
  onChange(change: ViewChange): void;
  /** The settings changed (endpoint mode may have been switched on or off): every Service again. */
  recheck(): void;
  counts(): { clusterIP: number; endpoints: number };
}

export function auditPorts(view: ClusterView, settings: () => Settings, log: Logger): PortAudit {
  /** Service key → what was last said about it. */
  const said = new Map<string, { answer: AddressAnswer; signature: string }>();
  const counts = { clusterIP: 0, endpoints: 0 };
  const forget = (key: string): void => {
    const old = said.get(key);
    if (old) counts[old.answer]--;
    said.delete(key);
  };
  const check = (service: Service): void => {
    const key = serviceKey(service.namespace, service.name);
    const found = addressAnswer(view, service, settings());
    if (found === null) return forget(key);
    const signature = JSON.stringify(found.mapped);
    const old = said.get(key);
    if (old?.answer === found.answer && old.signature === signature) return;
    forget(key);
    said.set(key, { answer: found.answer, signature });
    counts[found.answer]++;
    if (found.answer === 'clusterIP') {
      log.warn(
        { service: key, ports: found.mapped, override: `${Annotation.ignoreTargetPort}: "true"` },
        'Service in endpoint mode maps a port to another target port: its A/AAAA records stay the ClusterIP (SRV gives the endpoint ports)',
      );
    } else {
      log.warn(
        { service: key, ports: found.mapped, annotation: Annotation.ignoreTargetPort },
        'Service in endpoint mode maps a port and its annotation asks for endpoint addresses anyway: clients that use A records must dial the target port',
      );
    }
  };
  const checkAll = (): void => {
    const present = new Set<string>();
    for (const service of view.allServices()) {
      present.add(serviceKey(service.namespace, service.name));
      check(service);
    }
    for (const key of [...said.keys()]) if (!present.has(key)) forget(key);
  };
  return {
    onUpdate(update) {
      if (update.kind !== 'event' || update.event.kind !== 'Service') return;
      const event = update.event;
      if (event.op === 'upsert') check(event.record);
      else forget(serviceKey(event.namespace, event.name));
    },
    onChange(change) {
      if (change.scope === 'all') return checkAll();
      if (change.scope !== 'service') return;
      const service = view.service(change.namespace, change.service);
      if (service) check(service);
    },
    recheck: checkAll,
    counts: () => ({ ...counts }),
  };
}
