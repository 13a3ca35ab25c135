// What every reliability scenario returns: named checks (pass/fail with the figure behind them)
// and informational figures. main.ts prints them all and counts the failures.
export interface Check {
  scenario: string;
  name: string;
  passed: boolean;
  /** The measured figure and what it was compared with. */
  detail: string;
}

export interface ScenarioResult {
  checks: Check[];
  /** Extra measured facts (not pass/fail), printed after the table. */
  notes: string[];
}

export function checker(scenario: string): {
  check: (name: string, passed: boolean, detail: string) => void;
  note: (s: string) => void;
  result: () => ScenarioResult;
} {
  const checks: Check[] = [];
  const notes: string[] = [];
  return {
    check: (name, passed, detail) => checks.push({ scenario, name, passed, detail }),
    note: (s) => notes.push(`${scenario}: ${s}`),
    result: () => ({ checks, notes }),
  };
}

/** Runs `fn` on items with at most `limit` in flight. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
}
