// How every benchmark prints: a fixed-width table and ONE final ratio line in a format the CI smoke
// test (test/bench/smoke.test.ts) parses:
//
//   RATIO <bench>: <number> | <human explanation, goal>
//
// Bench scripts that support `--smoke` carry the marker comment `// @bench-smoke` so the smoke
// test finds them.
import { parseArgs } from "node:util";

export const RATIO_LINE = /^RATIO ([\w.-]+): (\S+) \|/m;

export function printRatio(bench: string, value: number, explanation: string): void {
  console.log(`RATIO ${bench}: ${Number.isFinite(value) ? value.toFixed(3) : String(value)} | ${explanation}`);
}

export function printTable(headers: string[], rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map((c) => (typeof c === "number" ? fmt(c) : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(line(headers));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of cells) console.log(line(r));
}

export function fmt(n: number, digits = 3): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return String(n);
  return n.toFixed(digits);
}

/** Nearest-rank percentile (p in 0..100) of an unsorted sample. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((s, v) => s + v, 0) / values.length;
}

/** The flags every bench accepts: --smoke (tiny sizes, ≤ 10 s, for CI) and --seed. */
export function benchArgs(extra: Record<string, { type: "string" | "boolean"; default?: string | boolean }> = {}) {
  const { values } = parseArgs({
    options: {
      smoke: { type: "boolean", default: false },
      seed: { type: "string", default: "1" },
      ...extra,
    },
    strict: true,
  });
  return values as { smoke: boolean; seed: string } & Record<string, string | boolean | undefined>;
}
