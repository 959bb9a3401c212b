/** The default policy: a uniform random order per response (Fisher–Yates). */

/** A fresh uniformly random permutation of 0..count-1. */
export function shuffledOrder(count: number, random: () => number = Math.random): Uint16Array {
  const order = new Uint16Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = order[i] as number;
    order[i] = order[j] as number;
    order[j] = swap;
  }
  return order;
}
