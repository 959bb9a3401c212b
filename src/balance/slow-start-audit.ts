/**
 * A bad `lbdns.io/slow-start-seconds` (not a whole number of seconds up to a day) is ignored: the
 * Service ramps by the settings. Said once per Service and value, naming the Service.
 */
import type { Logger } from 'pino';
import type { ClusterView, ViewUpdate } from '../view/cluster-view.ts';
import type { Service } from '../view/types.ts';
import { Annotation } from './policy.ts';
import { MAX_SLOW_START_SECONDS, parseSlowStartSeconds } from './slow-start.ts';

export function auditSlowStart(view: ClusterView, log: Logger): (update: ViewUpdate) => void {
  const warned = new Map<string, string>();
  const check = (service: Service): void => {
    const value = service.annotations[Annotation.slowStart];
    const key = `${service.namespace}/${service.name}`;
    if (value === undefined || parseSlowStartSeconds(value) !== null) {
      warned.delete(key);
      return;
    }
    if (warned.get(key) === value) return;
    if (warned.size >= 10_000) warned.clear();
    warned.set(key, value);
    log.warn({ service: key, annotation: Annotation.slowStart, value }, `ignored: not a whole number of seconds from 0 to ${MAX_SLOW_START_SECONDS}; balance.slowStartSeconds applies`);
  };
  return (update) => {
    if (update.kind === 'replaceAll') for (const service of view.allServices()) check(service);
    else if (update.event.op === 'upsert' && update.event.kind === 'Service') check(update.event.record);
  };
}
