/**
 * Bytes that a cache keeps for a long time (answers' records, a fixed answer's joined bytes),
 * packed into slabs that hold nothing else.
 *
 * Why not Node's pool: Buffer.allocUnsafe, Buffer.concat and Buffer.from hand out slices of one
 * shared slab (64 KiB in Node 24, Buffer.poolSize) that every short-lived buffer also takes from,
 * each response included. One kept slice keeps its whole slab alive. After a burst of new names
 * under load, at 10,000 Services, the answer cache's few dozen bytes per answer kept about
 * 650 bytes of pool each (heap snapshot: 5.4 MiB of pool slabs for 8,400 answers). Here a slab
 * fills with kept bytes only, and is 8 KiB.
 * An ArrayBuffer per copy costs more than that (about 0.7 KiB each, workers/messages.ts).
 *
 * Each thread has its own slabs (module state is per thread).
 */
const SLAB_SIZE = 8192;
/** Longer copies get an allocation of their own: they would leave too much of a slab unused. */
const LARGEST_SLICE = SLAB_SIZE / 4;

let slab: Buffer = Buffer.allocUnsafeSlow(0);
let used = 0;

/** Uninitialized bytes to fill and keep. */
export function keptBuffer(length: number): Buffer {
  if (length > LARGEST_SLICE) return Buffer.allocUnsafeSlow(length);
  if (used + length > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    used = 0;
  }
  const slice = slab.subarray(used, used + length);
  used += length;
  return slice;
}

/** A copy of `bytes` to keep. */
export function keepBytes(bytes: Uint8Array): Buffer {
  const copy = keptBuffer(bytes.length);
  copy.set(bytes);
  return copy;
}

/** `parts` joined into one run of bytes to keep. */
export function keepJoined(parts: readonly Uint8Array[]): Buffer {
  let length = 0;
  for (const part of parts) length += part.length;
  const joined = keptBuffer(length);
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return joined;
}
