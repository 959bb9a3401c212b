/**
 * Endpoint weights, in order of precedence: the settings' weight table for the Service's FQDN,
 * the Service's `lbdns.io/weights` annotation, then 1. Keys name an endpoint by IP, pod name or
 * hostname, or a whole zone.
 */
import type { Settings } from '../settings/schema.ts';
import type { Endpoint, Service } from '../view/types.ts';
import { Annotation } from './policy.ts';

export type WeightTable = ReadonlyMap<string, number>;

const parsedAnnotations = new Map<string, WeightTable>();

/** "web-0=3,web-1=1" → table; malformed pairs are ignored (the debug output shows what applies). */
export function parseWeightAnnotation(text: string): WeightTable {
  let table = parsedAnnotations.get(text);
  if (table) return table;
  const entries = new Map<string, number>();
  for (const pair of text.split(',')) {
    const [key, value] = pair.split('=').map((s) => s.trim());
    const weight = Number(value);
    if (key && value !== undefined && value !== '' && Number.isFinite(weight) && weight >= 0) entries.set(key.toLowerCase(), weight);
  }
  if (parsedAnnotations.size > 10_000) parsedAnnotations.clear();
  parsedAnnotations.set(text, (table = entries));
  return table;
}

export interface WeightSources {
  settings: WeightTable | null;
  annotation: WeightTable | null;
}

export function weightSources(service: Service, fqdn: string, settings: Settings): WeightSources {
  const fromSettings = settings.balance.weights[fqdn];
  const fromAnnotation = service.annotations[Annotation.weights];
  return {
    settings: fromSettings ? new Map(Object.entries(fromSettings).map(([k, v]) => [k.toLowerCase(), v])) : null,
    annotation: fromAnnotation ? parseWeightAnnotation(fromAnnotation) : null,
  };
}

function lookup(table: WeightTable | null, keys: Array<string | null>): number | undefined {
  if (!table) return undefined;
  for (const key of keys) {
    if (key === null) continue;
    const weight = table.get(key.toLowerCase());
    if (weight !== undefined) return weight;
  }
  return undefined;
}

export type WeightOrigin = 'settings' | 'annotation' | 'default';

/** The weight and where it came from (for /debug/balance). */
export function explainWeight(sources: WeightSources, endpoint: Endpoint, address: string): { weight: number; origin: WeightOrigin } {
  const keys = [address, endpoint.podName, endpoint.hostname, endpoint.zone];
  const fromSettings = lookup(sources.settings, keys);
  if (fromSettings !== undefined) return { weight: fromSettings, origin: 'settings' };
  const fromAnnotation = lookup(sources.annotation, keys);
  if (fromAnnotation !== undefined) return { weight: fromAnnotation, origin: 'annotation' };
  return { weight: 1, origin: 'default' };
}

export function endpointWeight(sources: WeightSources, endpoint: Endpoint, address: string): number {
  return explainWeight(sources, endpoint, address).weight;
}
