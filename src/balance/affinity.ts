/**
 * ClientIP affinity: which record a client gets first, the same on every query, every replica and
 * every restart, in proportion to the weights across clients, and moved only when its own record
 * goes away.
 *
 * - Up to RENDEZVOUS_LIMIT records: weighted rendezvous hashing, exactly (each record's race time
 *   is Exp(1) / weight from a hash of record and client; lowest first). A removed record moves its
 *   own clients and no other, and the whole order is stable per client. It costs a hash and a
 *   logarithm per record and query, so it stops at a few dozen records.
 * - Above: a consistent-hash ring, built once per answer. Each record has points on a 32-bit ring
 *   at hashes of its key (so they do not depend on the other records), as many as its share of
 *   the weight calls for; a client's hash lands on the ring and the next point's record is its
 *   first. A lookup is one binary search. A removed record's arcs go to the points after them,
 *   so only its clients move, except the few points the other records gain or lose when the
 *   mean weight or the points per record (which follow the record count) round differently.
 *   A record's share of clients is its share of the ring: proportional to its weight on
 *   average, within about 1/√points of it (16 to 1,024 points per record of mean weight).
 */
/** At most this many records get exact rendezvous hashing; larger groups get a ring. */
export const RENDEZVOUS_LIMIT = 64;

/** Points per record of mean weight: RING_POINTS in all, at least MIN and at most MAX per record. */
const RING_POINTS = 65_536;
const MIN_POINTS_PER_RECORD = 16;
const MAX_POINTS_PER_RECORD = 1024;
/** Larger groups get no ring (their first record is drawn by a generator seeded by the client): no Service comes close. */
export const RING_MAX_RECORDS = 2 ** 24;

export function mix(hash: number): number {
  // murmur3's finaliser: spreads the bits of two combined FNV hashes.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** A record's race time for a client in weighted rendezvous hashing: lower goes first. */
export function raceTime(recordHash: number, clientHash: number, weight: number): number {
  return -Math.log((mix(recordHash ^ clientHash) + 0.5) / 4294967296) / weight;
}

/**
 * The positions of a small group in rendezvous order for a client. `hashes` and `weights` are per
 * position.
 */
export function rendezvousOrder(hashes: ArrayLike<number>, weights: ArrayLike<number>, clientHash: number): number[] {
  const times = new Float64Array(hashes.length);
  const order: number[] = [];
  for (let position = 0; position < hashes.length; position++) {
    times[position] = raceTime(hashes[position]!, clientHash, weights[position]!);
    order.push(position);
  }
  return order.sort((a, b) => times[a]! - times[b]!);
}

export class AffinityRing {
  /** Ring points, ascending. */
  private readonly points: Uint32Array;
  /** The group position each point belongs to. */
  private readonly positions: Uint32Array;

  /** `hashes` and `weights` per group position (weights above 0; fewer than RING_MAX_RECORDS). */
  constructor(hashes: ArrayLike<number>, weights: ArrayLike<number>) {
    const count = hashes.length;
    let total = 0;
    for (let i = 0; i < count; i++) total += weights[i]!;
    const perRecord = Math.min(MAX_POINTS_PER_RECORD, Math.max(MIN_POINTS_PER_RECORD, Math.round(RING_POINTS / count)));
    const mean = total / count;
    const counts = new Uint32Array(count);
    let points = 0;
    for (let i = 0; i < count; i++) {
      counts[i] = Math.max(1, Math.round((perRecord * weights[i]!) / mean));
      points += counts[i]!;
    }
    this.points = new Uint32Array(points);
    this.positions = new Uint32Array(points);
    let at = 0;
    for (let position = 0; position < count; position++) {
      const hash = hashes[position]!;
      // A record's points are the first of its own sequence: more points only add to them.
      for (let k = 0; k < counts[position]!; k++) {
        this.points[at] = mix(hash ^ mix(k + 0x9e3779b9));
        this.positions[at++] = position;
      }
    }
    sortPoints(this.points, this.positions);
  }

  /** The group position a client gets first: the first point at or after its place on the ring. */
  first(clientHash: number): number {
    const place = mix(clientHash);
    const points = this.points;
    let low = 0;
    let high = points.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (points[middle]! < place) low = middle + 1;
      else high = middle;
    }
    return this.positions[low === points.length ? 0 : low]!;
  }
}

/**
 * Sorts ring points ascending, their positions along (a stable radix sort, two passes of 16
 * bits: linear in the points, several times faster than a comparison sort of 160,000 of them).
 */
function sortPoints(points: Uint32Array, positions: Uint32Array): void {
  const count = points.length;
  let fromPoints: Uint32Array = points;
  let fromPositions: Uint32Array = positions;
  let toPoints: Uint32Array = new Uint32Array(count);
  let toPositions: Uint32Array = new Uint32Array(count);
  const starts = new Uint32Array(65_537);
  for (const shift of [0, 16]) {
    starts.fill(0);
    for (let i = 0; i < count; i++) starts[((fromPoints[i]! >>> shift) & 0xffff) + 1]!++;
    for (let digit = 1; digit <= 65_536; digit++) starts[digit]! += starts[digit - 1]!;
    for (let i = 0; i < count; i++) {
      const at = starts[(fromPoints[i]! >>> shift) & 0xffff]!++;
      toPoints[at] = fromPoints[i]!;
      toPositions[at] = fromPositions[i]!;
    }
    [fromPoints, toPoints] = [toPoints, fromPoints];
    [fromPositions, toPositions] = [toPositions, fromPositions];
  }
  // Two passes: the sorted run is back in the arrays given.
}

