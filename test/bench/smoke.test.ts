// CI keeps the benchmarks from rotting: every bench/*.ts that carries the `// @bench-smoke` marker
// runs with --smoke (tiny sizes) as a child process and must exit 0 after printing its ratio line
// with a finite number. The numbers themselves are not asserted (speed is measured in bench/).
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { RATIO_LINE } from "../../bench/lib/report.ts";

const run = promisify(execFile);
const BENCH_DIR = join(import.meta.dirname, "../../bench");
const MARKER = "// @bench-smoke";

const smokeScripts = readdirSync(BENCH_DIR)
  .filter((f) => f.endsWith(".ts"))
  .filter((f) => readFileSync(join(BENCH_DIR, f), "utf8").includes(MARKER))
  .sort();

describe("bench smoke", () => {
  it("finds the benchmarks that declare smoke support", () => {
    expect(smokeScripts).toEqual(expect.arrayContaining(["placement-quality.ts", "selector-scale.ts"]));
  });

  for (const script of smokeScripts) {
    it(`${script} --smoke prints a finite ratio`, { timeout: 120_000 }, async () => {
      const { stdout } = await run(process.execPath, [join(BENCH_DIR, script), "--smoke"], {
        cwd: join(BENCH_DIR, ".."),
        timeout: 110_000,
        maxBuffer: 16 * 1024 * 1024,
      });
      const m = RATIO_LINE.exec(stdout);
      expect(m, `no "RATIO <bench>: <number> | ..." line in:\n${stdout}`).not.toBeNull();
      expect(Number.isFinite(Number(m![2]))).toBe(true);
    });
  }
});
