// The reliability suite: join storm, churn, Redis restart, fuzz, token attacks, Redis going back
// in time (timetravel.ts) and hostile clients (floods, slow readers, forged bus messages;
// hostile.ts) against a real local cluster (redis-server, Upstash REST stand-in, the Worker in
// Miniflare, media nodes as child processes), loopback only, every loop bounded in count and time.
//
//   npm run reliability [-- --smoke] [--only storm,churn,redis,fuzz,tokens,timetravel,hostile] [--seed N]
//
// Prints one table of checks, "N passed, M failed" and a RATIO line (share of checks passed);
// exits 1 when any check fails.
import { benchArgs, printRatio, printTable } from "../lib/report.ts";
import { runFuzz } from "./fuzz.ts";
import { runHostile } from "./hostile.ts";
import type { Check, ScenarioResult } from "./report.ts";
import { runStorm } from "./storm.ts";
import { runTimeTravel } from "./timetravel.ts";
import { runTokenAttacks } from "./tokens.ts";

const args = benchArgs({ only: { type: "string" } });
const smoke = args.smoke;
const seed = Number(args.seed);
const only = new Set(
  ((args.only as string | undefined) ?? "storm,churn,redis,fuzz,tokens,timetravel,hostile").split(","),
);

// Full sizes are the issue's; smoke sizes keep the whole suite near a minute.
const storm = smoke
  ? { joins: 60, durationMs: 4_000, rooms: 10, wsEvery: 6 }
  : { joins: 2_000, durationMs: 60_000, rooms: 50, wsEvery: 20 };
const scenarios: Record<string, () => Promise<ScenarioResult>> = {
  storm: () => runStorm({ name: "storm", nodes: 3, seed, ...storm }),
  churn: () => runStorm({ name: "churn", nodes: 3, seed: seed + 1, ...storm, churnEveryMs: smoke ? 3_000 : 10_000 }),
  redis: () =>
    runStorm({
      name: "redis",
      nodes: 3,
      seed: seed + 2,
      ...storm,
      ...(smoke ? { durationMs: 6_000 } : { joins: 1_000, durationMs: 30_000 }),
      redisOutage: smoke ? { atMs: 2_000, forMs: 1_500 } : { atMs: 10_000, forMs: 5_000 },
    }),
  fuzz: () =>
    runFuzz({
      httpInputs: smoke ? 300 : 10_000,
      signalInputs: smoke ? 300 : 10_000,
      seed,
      budgetMs: smoke ? 20_000 : 180_000,
    }),
  tokens: () => runTokenAttacks(),
  timetravel: () => runTimeTravel({ rooms: smoke ? 2 : 10, probes: smoke ? 2 : 5, maxNodeRssMiB: 512 }),
  hostile: () =>
    runHostile({
      nodes: 3,
      ...(smoke ? { rooms: 3, perNode: 2, durationMs: 4_000 } : { rooms: 10, perNode: 10, durationMs: 30_000 }),
      rssBoundBytes: 128 * 1024 * 1024,
    }),
};

const checks: Check[] = [];
const notes: string[] = [];
for (const [name, run] of Object.entries(scenarios)) {
  if (!only.has(name)) continue;
  const t0 = Date.now();
  try {
    const r = await run();
    checks.push(...r.checks);
    notes.push(...r.notes, `${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    checks.push({
      scenario: name,
      name: "scenario ran to the end",
      passed: false,
      detail: (e as Error).stack?.split("\n").slice(0, 3).join(" ") ?? String(e),
    });
  }
}

printTable(
  ["scenario", "check", "result", "measured"],
  checks.map((c) => [
    c.scenario,
    c.name,
    c.passed ? "pass" : "FAIL",
    c.detail.length > 220 ? `${c.detail.slice(0, 220)}…` : c.detail,
  ]),
);
console.log("");
for (const n of notes) console.log(n);
for (const c of checks.filter((c) => !c.passed)) console.log(`FAILED ${c.scenario}: ${c.name}`);
const passed = checks.filter((c) => c.passed).length;
const failed = checks.length - passed;
console.log(`\n${passed} passed, ${failed} failed`);
printRatio(
  "reliability",
  checks.length ? passed / checks.length : 0,
  `${passed}/${checks.length} checks passed${smoke ? " (smoke sizes)" : ""}; goal 1.000`,
);
process.exit(failed === 0 ? 0 : 1);
