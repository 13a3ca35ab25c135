// CI runs the reliability suite (bench/reliability) at smoke sizes so it cannot rot: a real
// cluster (redis-server, bridge, Worker in Miniflare, 3 media nodes) through storm, churn, Redis
// restart, fuzz, token attacks, Redis going back in time (restart from an older RDB snapshot) and
// hostile clients (floods, slow readers, forged bus messages).
// Every check must pass: ghost participants after churn, rooms moving after Redis restarts empty
// and rooms splitting after it goes back in time were fixed in shared/ (placement drops a gone
// host's participants, registry warm-up, the nodes' write log), so any FAILED line fails CI.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { RATIO_LINE } from "../../bench/lib/report.ts";
import { mediasoupWorkerAvailable } from "../../infra/local/media-node.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "../..");

describe.skipIf(!mediasoupWorkerAvailable())("reliability suite --smoke", () => {
  it("passes every check on a real local cluster", { timeout: 480_000 }, async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, "bench/reliability/main.ts"), "--smoke"], {
      cwd: ROOT,
      timeout: 470_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? "", stderr: e.stderr ?? "" }));
    const summary = /^(\d+) passed, (\d+) failed$/m.exec(stdout);
    expect(summary, `no summary line in:\n${stdout}`).not.toBeNull();
    expect(Number(summary![1])).toBeGreaterThan(40);
    const failed = [...stdout.matchAll(/^FAILED (.+)$/gm)].map((m) => m[1]!);
    expect(failed, stdout).toEqual([]);
    expect(RATIO_LINE.exec(stdout)).not.toBeNull();
  });
});
