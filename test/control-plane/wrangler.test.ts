// wrangler.toml is deployable: `wrangler deploy --dry-run` bundles the Worker offline, for every
// environment.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;

describe("wrangler deploy --dry-run", () => {
  it.each(["dev", "production"])("bundles env %s", async (env) => {
    const out = mkdtempSync(join(tmpdir(), "meridian-wrangler-"));
    try {
      const { stdout } = await run(
        join(root, "node_modules/.bin/wrangler"),
        ["deploy", "--dry-run", "--outdir", out, "--env", env],
        {
          cwd: root,
          env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "1" },
          timeout: 120_000,
        },
      );
      expect(stdout).toMatch(/--dry-run: exiting now/);
      expect(stdout).toMatch(/env\.NODE_SELECTOR/);
      const bundle = join(out, "index.js");
      expect(existsSync(bundle)).toBe(true);
      const code = readFileSync(bundle, "utf8");
      expect(code).toContain("/v1/join");
      expect(code).toContain("place_room");
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
