/**
 * Weighted draws without replacement: the next record is drawn with probability weight / weight
 * of those left, the sequential sampling the policies define, without touching the records not
 * drawn, so a query that sends k of n records costs O(k), O(k log n) at worst.
 *
 * - Fast way: a draw from all records in O(1) (Walker's alias table), drawn again when it lands
 *   on a record already taken this query (a stamp per record says so; stamps of other queries
 *   are older, so nothing is cleared between queries) or in the run left out. Conditioned on
 *   landing on a record still open, that is exactly the draw among those.
 * - When the run left out (the client-sort trim) weighs half or more: the same over the prefix
 *   sums of the weights, where the run can be stepped over (one binary search per draw).
 * - Exact fallback: when what is taken weighs half of what is open or more (a few heavy
 *   records), or a few draws in a row land on taken records, the draw goes to a sum tree with
 *   the taken records set to 0 (WeightTree). Every way picks a record with the same
 *   probabilities, so choosing between them by what happened keeps them.
 */

/**
 * Draws landing on taken or left-out records before the tree takes over. A draw is only tried
 * while at least half the weight is open, so it takes 2 tries at most on average, and all of them
 * miss with a chance of 1 in 65,536 at most.
 */
const REJECTIONS = 16;

export class WeightedSampler {
  readonly size: number;
  private readonly weights: Float64Array;
  /** prefix[i]: the weight of positions [0, i). */
  private readonly prefix: Float64Array;
  /** Walker's alias table: position i is kept with probability keep[i], else alias[i] is drawn. */
  private readonly keep: Float64Array;
  private readonly alias: Uint32Array;
  /** stamps[i] === stamp: position i was taken in this query. */
  private readonly stamps: Uint32Array;
  private stamp = 0;
  private readonly taken: number[] = [];
  private takenWeight = 0;
  private tree: WeightTree | null = null;
  /** Whether this query's taken positions are set to 0 in the tree. */
  private inTree = false;

  constructor(weights: Float64Array) {
    this.size = weights.length;
    this.weights = weights;
    this.prefix = new Float64Array(weights.length + 1);
    for (let i = 0; i < weights.length; i++) this.prefix[i + 1] = this.prefix[i]! + weights[i]!;
    this.stamps = new Uint32Array(weights.length);
    [this.keep, this.alias] = aliasTable(weights, this.prefix[weights.length]!);
  }

  /** Starts a query: every position is back in the draw. */
  begin(): void {
    if (this.inTree) this.tree!.restore();
    this.inTree = false;
    this.taken.length = 0;
    this.takenWeight = 0;
    if (this.stamp === 0xffffffff) {
      this.stamps.fill(0);
      this.stamp = 0;
    }
    this.stamp++;
  }

  /** Leaves `position` out of this query's next draws. */
  take(position: number): void {
    this.stamps[position] = this.stamp;
    this.taken.push(position);
    this.takenWeight += this.weights[position]!;
    if (this.inTree) this.tree!.take(position);
  }

  /**
   * A position not taken and outside [skipFrom, skipTo), drawn with probability weight / weight of
   * all such positions; -1 when none is left. Every weight must be above 0.
   */
  draw(random: () => number, skipFrom = 0, skipTo = 0): number {
    if (skipTo < skipFrom) skipTo = skipFrom;
    if (this.taken.length + (skipTo - skipFrom) >= this.size) return -1;
    if (!this.inTree) {
      const prefix = this.prefix;
      const total = prefix[this.size]!;
      const skipped = prefix[skipTo]! - prefix[skipFrom]!;
      if (this.takenWeight + skipped < total / 2) {
        for (let attempt = 0; attempt < REJECTIONS; attempt++) {
          const position = this.aliasDraw(random);
          if (this.open(position, skipFrom, skipTo)) return position;
        }
      } else if (this.takenWeight < (total - skipped) / 2) {
        for (let attempt = 0; attempt < REJECTIONS; attempt++) {
          let u = random() * (total - skipped);
          if (u >= prefix[skipFrom]!) u += skipped;
          const position = this.locate(u);
          if (this.open(position, skipFrom, skipTo)) return position;
        }
      }
      this.moveToTree();
    }
    return this.tree!.draw(random, skipFrom, skipTo);
  }

  private open(position: number, skipFrom: number, skipTo: number): boolean {
    return this.stamps[position] !== this.stamp && (position < skipFrom || position >= skipTo);
  }

  /** A position drawn with probability weight / total weight, in O(1). */
  private aliasDraw(random: () => number): number {
    const scaled = random() * this.size;
    const slot = Math.min(Math.floor(scaled), this.size - 1);
    return scaled - slot < this.keep[slot]! ? slot : this.alias[slot]!;
  }

  /** The position whose weight covers `u`: the last i with prefix[i] <= u, within range. */
  private locate(u: number): number {
    const prefix = this.prefix;
    let low = 0;
    let high = this.size - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (prefix[middle]! <= u) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  private moveToTree(): void {
    this.tree ??= new WeightTree(this.weights);
    for (const position of this.taken) this.tree.take(position);
    this.inTree = true;
  }
}

/** Walker's alias table (Vose's construction) for weights summing to `total`. */
function aliasTable(weights: Float64Array, total: number): [Float64Array, Uint32Array] {
  const n = weights.length;
  const keep = new Float64Array(n);
  const alias = new Uint32Array(n);
  const scaled = new Float64Array(n);
  // Two stacks in one array: those below 1 from the front, the others from the back.
  const stacks = new Uint32Array(n);
  let small = 0;
  let large = n;
  for (let i = 0; i < n; i++) {
    scaled[i] = (weights[i]! * n) / total;
    if (scaled[i]! < 1) stacks[small++] = i;
    else stacks[--large] = i;
  }
  while (small > 0 && large < n) {
    const less = stacks[--small]!;
    const more = stacks[large++]!;
    keep[less] = scaled[less]!;
    alias[less] = more;
    scaled[more] = scaled[more]! + scaled[less]! - 1;
    if (scaled[more]! < 1) stacks[small++] = more;
    else stacks[--large] = more;
  }
  // What is left holds 1 up to rounding.
  for (let i = 0; i < small; i++) keep[stacks[i]!] = 1;
  for (let i = large; i < n; i++) keep[stacks[i]!] = 1;
  return [keep, alias];
}

/**
 * The exact fallback: a sum tree over the weights (a complete binary tree, leaves at
 * [base, 2·base), each node the sum of its two children). A draw walks down from the top; `take`
 * sets a leaf to 0 and recomputes its path. `restore` puts back every leaf taken, recomputing the
 * same sums from the same leaves, so the tree is bit for bit as built (no drift from adding back),
 * and nothing is ever subtracted, so records far lighter than the ones taken keep their weight.
 */
export class WeightTree {
  readonly size: number;
  /** Leaves start here: a power of two, at least `size`. */
  private readonly base: number;
  private readonly sums: Float64Array;
  private readonly weights: Float64Array;
  /** Positions taken since the last restore. */
  private readonly taken: number[] = [];
  /** Nodes covering a range, in order (at most two per level). */
  private readonly cover: Int32Array;

  constructor(weights: Float64Array) {
    this.size = weights.length;
    let base = 1;
    while (base < weights.length) base *= 2;
    this.base = base;
    this.weights = weights;
    this.sums = new Float64Array(2 * base);
    this.sums.set(weights, base);
    for (let node = base - 1; node >= 1; node--) this.sums[node] = this.sums[2 * node]! + this.sums[2 * node + 1]!;
    this.cover = new Int32Array(2 * Math.log2(base) + 2);
  }

  /** Leaves `position` out of the draws until `restore`. */
  take(position: number): void {
    this.taken.push(position);
    this.setLeaf(position, 0);
  }

  /** Puts back every position taken. */
  restore(): void {
    for (const position of this.taken) this.setLeaf(position, this.weights[position]!);
    this.taken.length = 0;
  }

  private setLeaf(position: number, weight: number): void {
    const sums = this.sums;
    let node = this.base + position;
    sums[node] = weight;
    for (node >>= 1; node >= 1; node >>= 1) sums[node] = sums[2 * node]! + sums[2 * node + 1]!;
  }

  /** As WeightedSampler.draw. */
  draw(random: () => number, skipFrom = 0, skipTo = 0): number {
    if (skipFrom >= skipTo) {
      const total = this.sums[1]!;
      return total > 0 ? this.descend(1, random() * total) : -1;
    }
    const before = this.rangeSum(0, skipFrom);
    const after = this.rangeSum(skipTo, this.size);
    const total = before + after;
    if (!(total > 0)) return -1;
    const u = random() * total;
    if (u < before || !(after > 0)) return this.find(0, skipFrom, u);
    return this.find(skipTo, this.size, u - before);
  }

  /** The nodes that cover [from, to), left to right, into `cover`; returns how many. */
  private coverRange(from: number, to: number): number {
    const cover = this.cover;
    let left = from + this.base;
    let right = to + this.base;
    let count = 0;
    let rightCount = 0;
    // Left-side nodes fill the front; right-side nodes fill the back, then move up front reversed.
    const back = cover.length;
    while (left < right) {
      if (left & 1) cover[count++] = left++;
      if (right & 1) cover[back - ++rightCount] = --right;
      left >>= 1;
      right >>= 1;
    }
    for (let i = 0; i < rightCount; i++) cover[count++] = cover[back - rightCount + i]!;
    return count;
  }

  private rangeSum(from: number, to: number): number {
    let total = 0;
    const count = this.coverRange(from, to);
    for (let i = 0; i < count; i++) total += this.sums[this.cover[i]!]!;
    return total;
  }

  /** The position in [from, to) where the running sum passes `u`. */
  private find(from: number, to: number, u: number): number {
    const count = this.coverRange(from, to);
    let last = -1;
    for (let i = 0; i < count; i++) {
      const node = this.cover[i]!;
      const sum = this.sums[node]!;
      if (!(sum > 0)) continue;
      if (u < sum) return this.descend(node, u);
      u -= sum;
      last = node;
    }
    // Rounding left `u` past the last sum: the last position with weight.
    return last < 0 ? -1 : this.descend(last, Infinity);
  }

  /** From `node` (its sum above 0) down to a leaf with weight, where the running sum passes `u`. */
  private descend(node: number, u: number): number {
    const sums = this.sums;
    while (node < this.base) {
      const left = 2 * node;
      const leftSum = sums[left]!;
      if ((u < leftSum && leftSum > 0) || !(sums[left + 1]! > 0)) {
        node = left;
      } else {
        u -= leftSum;
        node = left + 1;
      }
    }
    return node - this.base;
  }
}
