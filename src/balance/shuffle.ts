/** The default policy: a uniform random order per response (Fisher–Yates). */

/** Shuffles `items` in place into a uniformly random order, and returns it. */
export function shuffleInPlace<T>(items: T[], random: () => number = Math.random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = items[i] as T;
    items[i] = items[j] as T;
    items[j] = swap;
  }
  return items;
}

/**
 * The first `count` steps of a Fisher–Yates shuffle of `order`, in place: its first `count`
 * entries become a uniformly random choice and arrangement of `count` of its entries, whatever
 * order it was in before. So one permutation, kept with the answer and never reset, serves every
 * response at O(count) each.
 */
export function partialShuffle(order: Uint32Array, count: number, random: () => number = Math.random): void {
  const n = order.length;
  for (let i = 0; i < count && i < n - 1; i++) {
    const j = i + Math.floor(random() * (n - i));
    const swap = order[i]!;
    order[i] = order[j]!;
    order[j] = swap;
  }
}

/** `count` of the records at `answers[from..]`, chosen and ordered uniformly at random, with `order` (their indices) as the kept permutation. */
export function chooseShuffled<T>(answers: readonly T[], from: number, order: Uint32Array, count: number, random: () => number = Math.random): T[] {
  const take = Math.min(count, order.length);
  partialShuffle(order, take, random);
  const chosen = new Array<T>(take);
  for (let i = 0; i < take; i++) chosen[i] = answers[from + order[i]!]!;
  return chosen;
}
