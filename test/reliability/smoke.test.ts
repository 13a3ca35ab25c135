// CI runs the reliability suite (bench/reliability) at smoke sizes so it cannot rot: a real
// cluster (redis-server, bridge, Worker in Miniflare, 3 media nodes) through storm, churn, Redis
// restart, fuzz and token attacks. Every check must pass, except the known issues below, which
// are reported by the suite but depend on timing (they may pass or fail at smoke sizes).
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { RATIO_LINE } from "../../bench/lib/report.ts";
import { mediasoupWorkerAvailable } from "../../infra/local/media-node.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "../..");

/** Redis restarted empty: joins that arrive before the hosting nodes re-sync their rooms (next
 * report, ≤ REPORT_INTERVAL_MS) place those rooms again, possibly on another node, while the old
 * node still has participants in them. Reported to the media-node owners (see README). */
/** A SIGKILLed node's participants stay in room:<name>:participants when its room was re-placed
 * on another node before the sweeper ran (sweep_dead_nodes only clears rooms still mapped to the
 * dead node). Reported to the registry owners (see README). */
const KNOWN_ISSUES = new Set(["redis: 0 split rooms in the join answers", "churn: 0 ghost keys"]);

describe.skipIf(!mediasoupWorkerAvailable())("reliability suite --smoke", () => {
  it("passes every check on a real local cluster", { timeout: 180_000 }, async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, "bench/reliability/main.ts"), "--smoke"], {
      cwd: ROOT,
      timeout: 170_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? "", stderr: e.stderr ?? "" }));
    const summary = /^(\d+) passed, (\d+) failed$/m.exec(stdout);
    expect(summary, `no summary line in:\n${stdout}`).not.toBeNull();
    expect(Number(summary![1])).toBeGreaterThan(40);
    const failed = [...stdout.matchAll(/^FAILED (.+)$/gm)].map((m) => m[1]!).filter((f) => !KNOWN_ISSUES.has(f));
    expect(failed, stdout).toEqual([]);
    expect(RATIO_LINE.exec(stdout)).not.toBeNull();
  });
});
