/**
 * What operators should hear about a Service's balancing, said once per Service and per change of
 * it (its record, its endpoint objects, or the settings), never for a query:
 * - A records carry no port: a Service in endpoint mode whose port maps to another target port
 *   keeps its ClusterIP in A/AAAA answers (resolve/cluster-lookup.ts), unless its
 *   `lbdns.io/ignore-target-port: "true"` annotation asks for endpoints anyway. Counted for the
 *   `lbdns_port_mismatch_services` gauge.
 * - Weights set for a Service whose answers do not use them (not balanced, or the shuffle policy).
 */
import type { Logger } from 'pino';
import type { Settings } from '../settings/schema.ts';
import type { ClusterView, ViewChange, ViewUpdate } from '../view/cluster-view.ts';
import type { PortMapping } from '../view/port-map.ts';
import { type Service, serviceKey } from '../view/types.ts';
import { serviceFqdn } from '../view/names.ts';
import { Annotation, ignoresTargetPort, serviceBalance } from './policy.ts';
import { parseWeightAnnotation } from './weights.ts';

export type { PortMapping };

/** What a Service in endpoint mode answers A/AAAA with when a port maps; null when none maps or it is not in endpoint mode. */
export type AddressAnswer = 'clusterIP' | 'endpoints';

export function addressAnswer(view: ClusterView, service: Service, settings: Settings): { answer: AddressAnswer; mapped: readonly PortMapping[] } | null {
  if (!serviceBalance(service, settings).endpointMode) return null;
  const mapped = view.portMappings(service);
  if (mapped.length === 0) return null;
  return { answer: ignoresTargetPort(service) ? 'endpoints' : 'clusterIP', mapped };
}

/**
 * Why the weights set for this Service (its lbdns.io/weights annotation, or the settings' table
 * under its name in any zone) do not order its answers; null when they do, or none are set.
 */
export function ignoredWeights(service: Service, settings: Settings): string | null {
  const values: number[] = [];
  const annotation = service.annotations[Annotation.weights];
  if (annotation !== undefined) values.push(...parseWeightAnnotation(annotation).values());
  for (const zone of settings.zones) values.push(...Object.values(settings.balance.weights[serviceFqdn(service, zone)] ?? {}));
  if (values.length === 0 && annotation === undefined) return null;
  const config = serviceBalance(service, settings);
  if (!config.balanced) {
    return service.headless
      ? 'a headless Service keeps the plain shuffle unless it sets lbdns.io/policy: its weights are ignored'
      : 'the Service answers its ClusterIP (not endpoint mode: lbdns.io/answer or balance.answer): its weights are ignored';
  }
  // Weight 0 still takes an endpoint out, and SRV weights follow them; only the order ignores them.
  if (config.policy === 'shuffle' && values.some((weight) => weight !== 0 && weight !== 1)) {
    return 'the shuffle policy orders answers without weights (only weight 0, which takes an endpoint out, applies): set lbdns.io/policy: weighted or zone';
  }
  return null;
}

export interface ServiceAudit {
  /** For ClusterView.onUpdate: a Service's own record came or went. */
  onUpdate(update: ViewUpdate): void;
  /** For ClusterView.onChange: a Service's endpoint objects changed (named ports resolve through them), or everything did. */
  onChange(change: ViewChange): void;
  /** The settings changed (endpoint mode may have been switched on or off): every Service again. */
  recheck(): void;
  counts(): { clusterIP: number; endpoints: number };
}

export function auditServices(view: ClusterView, settings: () => Settings, log: Logger): ServiceAudit {
  /** Service key → what was last said about it. */
  const said = new Map<string, { answer: AddressAnswer; signature: string }>();
  const counts = { clusterIP: 0, endpoints: 0 };
  /** Service key → the weights problem last said (with what it was said for). */
  const saidWeights = new Map<string, string>();
  const forgetPorts = (key: string): void => {
    const old = said.get(key);
    if (old) counts[old.answer]--;
    said.delete(key);
  };
  const forget = (key: string): void => {
    forgetPorts(key);
    saidWeights.delete(key);
  };
  const checkWeights = (service: Service, key: string): void => {
    const problem = ignoredWeights(service, settings());
    if (problem === null) return void saidWeights.delete(key);
    const signature = `${problem} ${service.annotations[Annotation.weights] ?? ''}`;
    if (saidWeights.get(key) === signature) return;
    saidWeights.set(key, signature);
    log.warn({ service: key, weights: service.annotations[Annotation.weights] ?? 'balance.weights' }, `weights set for a Service that does not use them: ${problem}`);
  };
  const check = (service: Service): void => {
    const key = serviceKey(service.namespace, service.name);
    checkWeights(service, key);
    checkPorts(service, key);
  };
  const checkPorts = (service: Service, key: string): void => {
    const found = addressAnswer(view, service, settings());
    if (found === null) return forgetPorts(key);
    const signature = JSON.stringify(found.mapped);
    const old = said.get(key);
    if (old?.answer === found.answer && old.signature === signature) return;
    forgetPorts(key);
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
    for (const key of [...said.keys(), ...saidWeights.keys()]) if (!present.has(key)) forget(key);
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
