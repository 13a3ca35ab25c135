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

const ENV = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "1" };

/** Bundles offline; returns wrangler's output (the bindings table) after checking the bundle. */
async function dryRun(command: string, args: string[], out: string): Promise<string> {
  const { stdout } = await run(command, args, { cwd: root, env: ENV, timeout: 120_000 });
  expect(stdout).toMatch(/--dry-run: exiting now/);
  const bundle = join(out, "index.js");
  expect(existsSync(bundle)).toBe(true);
  const code = readFileSync(bundle, "utf8");
  expect(code).toContain("/v1/join");
  expect(code).toContain("place_room");
  return stdout;
}

describe("wrangler deploy --dry-run", () => {
  it("bundles env dev, which trusts the dev-only client location header", async () => {
    const out = mkdtempSync(join(tmpdir(), "meridian-wrangler-"));
    try {
      const stdout = await dryRun(
        join(root, "node_modules/.bin/wrangler"),
        ["deploy", "--dry-run", "--outdir", out, "--env", "dev"],
        out,
      );
      expect(stdout).toMatch(/env\.NODE_SELECTOR/);
      expect(stdout).toMatch(/env\.TRUST_CLIENT_LOCATION \("true"\)/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("bundles env production through npm run deploy:worker: vars from the deploy config, never the location header", async () => {
    const out = mkdtempSync(join(tmpdir(), "meridian-wrangler-"));
    try {
      const args = ["infra/deploy-worker.ts", "--config", "infra/meridian.example.yaml", "--dry-run", "--outdir", out];
      const stdout = await dryRun(process.execPath, args, out);
      expect(stdout).toMatch(/env\.NODE_SELECTOR \("\(hidden\)"\)/); // passed with --var
      expect(stdout).toMatch(/env\.DEFAULT_REGION/);
      expect(stdout).not.toMatch(/TRUST_CLIENT_LOCATION/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("deploy:worker --print shows the vars it would pass", async () => {
    const { stdout } = await run(
      process.execPath,
      ["infra/deploy-worker.ts", "--config", "infra/meridian.example.yaml", "--print"],
      { cwd: root, env: ENV },
    );
    const vars = JSON.parse(stdout);
    expect(JSON.parse(vars.NODE_SELECTOR).regions.map((r: { name: string }) => r.name)).toEqual([
      "us-west-2",
      "us-east",
    ]);
    expect(vars.DEFAULT_REGION).toBe("us-east");
    expect(JSON.parse(vars.CASCADE)).toEqual({ enabled: false, max_nodes_per_room: 8, participants_per_node: 200 });
  });
});
