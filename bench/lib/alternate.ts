// Same-run comparison of round-trip variants (the bridge vs its floor, bridged vs direct):
// a warm-up of each, then blocks of each in turn, so machine noise (another process's burst on a
// shared box) hits every variant alike instead of whichever ran during it.
import { mean, percentile } from "./report.ts";

export interface AlternateOptions {
  /** Timed calls per variant (split evenly over the blocks). */
  n: number;
  blocks: number;
  /** Untimed calls per variant first (JIT, connection pools, Redis buffers). */
  warmup: number;
}

/** Durations (ms) of `n` sequential calls of each variant, in the variants' order. */
export async function alternateRoundTrips(
  variants: readonly (() => Promise<unknown>)[],
  o: AlternateOptions,
): Promise<number[][]> {
  const run = async (f: () => Promise<unknown>, count: number, into: number[]) => {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await f();
      into.push(performance.now() - t0);
    }
  };
  for (const f of variants) await run(f, o.warmup, []);
  const samples = variants.map((): number[] => []);
  for (let b = 0; b < o.blocks; b++)
    for (const [i, f] of variants.entries()) await run(f, Math.round(o.n / o.blocks), samples[i]!);
  return samples;
}

/** A table row for one variant: label, n, p50, p99, mean (ms). */
export function roundTripRow(label: string, ms: readonly number[]): (string | number)[] {
  return [label, ms.length, percentile(ms, 50), percentile(ms, 99), mean(ms)];
}

/** What `variant` adds to `base` at p50 and p99, as one line. */
export function printAdded(by: string, base: readonly number[], variant: readonly number[]): void {
  const plus = (p: number) => (percentile(variant, p) - percentile(base, p)).toFixed(3);
  console.log(`added by ${by}: p50 +${plus(50)} ms, p99 +${plus(99)} ms`);
}
