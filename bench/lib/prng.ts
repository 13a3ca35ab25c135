// Seeded randomness so every benchmark run replays the same workload: results differ only when
// the code under test does. The generator itself is the selector's (one mulberry32 in the repo).

import type { Rng } from "#shared/selector/random.ts";

export { seededRng, type Rng } from "#shared/selector/random.ts";

/** Integer in [lo, hi). */
export function randomInt(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo));
}

export function pickWeighted<T extends { weight: number }>(rng: Rng, items: readonly T[]): T {
  const total = items.reduce((s, i) => s + i.weight, 0);
  let x = rng() * total;
  for (const item of items) {
    x -= item.weight;
    if (x < 0) return item;
  }
  const last = items[items.length - 1];
  if (!last) throw new Error("pickWeighted: no items");
  return last;
}

/** Exponential variate with the given mean (Poisson inter-arrival times). */
export function exponential(rng: Rng, mean: number): number {
  return -Math.log(1 - rng()) * mean;
}

/** Log-normal variate from its median and the σ of the underlying normal (Box–Muller). */
export function logNormal(rng: Rng, median: number, sigma: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  return median * Math.exp(sigma * z);
}
