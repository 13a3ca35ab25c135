// infra/bin/run: npm scripts work from a fresh shell whose `node` is the machine's Node 20, and
// say what to run when the project's Node 24 is missing.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const RUN = join(ROOT, "infra/bin/run");
const run = promisify(execFile);
// A fresh shell: the machine's PATH, nothing sourced, no Node 24 on it.
const FRESH_PATH = "/usr/local/bin:/usr/bin:/bin";
const emptyCache = mkdtempSync(join(tmpdir(), "meridian-cache-"));
afterAll(() => rmSync(emptyCache, { recursive: true, force: true }));

describe("infra/bin/run", () => {
  it("every npm script goes through it (or through npm scripts that do)", () => {
    const { scripts } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    for (const [name, cmd] of Object.entries(scripts)) {
      const parts = cmd.split("&&").map((p) => p.trim());
      for (const p of parts) expect(p, `npm script "${name}"`).toMatch(/^(infra\/bin\/run |npm run -s [\w:]+$)/);
    }
  });

  it("runs node and node_modules/.bin tools under Node 24 from a shell with the machine's Node first", async () => {
    const env = {
      PATH: FRESH_PATH,
      HOME: process.env.HOME ?? "/root",
      MERIDIAN_CACHE: process.env.MERIDIAN_CACHE ?? "",
    };
    if (!env.MERIDIAN_CACHE) delete (env as Partial<typeof env>).MERIDIAN_CACHE;
    const node = await run(RUN, ["node", "-p", "process.version"], { env, cwd: "/" });
    expect(node.stdout.trim()).toMatch(/^v24\./);
    // A .bin tool with a `#!/usr/bin/env node` shebang runs under the same Node.
    const tsc = await run(RUN, ["tsc", "--version"], { env, cwd: ROOT });
    expect(tsc.stdout).toMatch(/^Version \d/);
  });

  it("without the project's Node 24 it exits 127 with one sentence naming infra/install", async () => {
    const err = await run(RUN, ["node", "-v"], { env: { PATH: FRESH_PATH, MERIDIAN_CACHE: emptyCache } }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    // Only meaningful where the machine's own node is not 24 (the case this launcher exists for).
    const machine = await run("node", ["-v"], { env: { PATH: FRESH_PATH } }).then(
      (r) => r.stdout.trim(),
      () => "none",
    );
    if (machine.startsWith("v24.")) return;
    expect(err?.code).toBe(127);
    expect(err?.stderr.trim().split("\n")).toHaveLength(1);
    expect(err?.stderr).toContain("run infra/install");
  });
});
