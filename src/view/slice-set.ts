/**
 * The EndpointSlices of one Service, by name. Nearly every Service has one slice: it is held as it
 * is, and only a Service with several gets a Map (10,000 Services held 10,000 one-entry Maps,
 * 1.8 MiB, heap snapshot). Iteration keeps the order slices were added in, as a Map does.
 */
import type { EndpointSlice } from './types.ts';

export type SliceSet = EndpointSlice | Map<string, EndpointSlice>;

export function sliceNamed(set: SliceSet | undefined, name: string): EndpointSlice | undefined {
  if (set === undefined) return undefined;
  return set instanceof Map ? set.get(name) : set.name === name ? set : undefined;
}

export function slicesIn(set: SliceSet | undefined): Iterable<EndpointSlice> {
  if (set === undefined) return [];
  return set instanceof Map ? set.values() : [set];
}

export function sliceCount(set: SliceSet | undefined): number {
  if (set === undefined) return 0;
  return set instanceof Map ? set.size : 1;
}

/** The set with `slice` in place of any of its name. */
export function withSlice(set: SliceSet | undefined, slice: EndpointSlice): SliceSet {
  if (set === undefined || (!(set instanceof Map) && set.name === slice.name)) return slice;
  if (set instanceof Map) return set.set(slice.name, slice);
  return new Map([
    [set.name, set],
    [slice.name, slice],
  ]);
}

/** The set without the slice of that name; undefined when none is left. */
export function withoutSlice(set: SliceSet, name: string): SliceSet | undefined {
  if (!(set instanceof Map)) return set.name === name ? undefined : set;
  set.delete(name);
  if (set.size > 1) return set;
  const [last] = set.values();
  return last;
}
