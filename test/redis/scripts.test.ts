// The Lua scripts: the generated module the Worker bundles must be the .lua files as they are, and
// every named argument a script reads must be documented in its header.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { GENERATED_MODULE, renderSourcesModule } from "#shared/redis/generate.ts";
import { SCRIPTS } from "#shared/redis/scripts.ts";
import { LUA_SOURCES } from "#shared/redis/sources.generated.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import type { Redis } from "ioredis";
import { keys } from "#shared/keys.ts";
import { upsertParticipant } from "#shared/registry.ts";
import { scriptRedisPerFile } from "../support/redis.ts";

let redis: Redis;
let run: ScriptRunner;
scriptRedisPerFile((c) => ({ redis, run } = c));

describe("lua scripts", () => {
  it("the generated module is up to date (else: npm run redis:scripts)", () => {
    const fresh = readFileSync(GENERATED_MODULE, "utf8") === renderSourcesModule();
    expect(fresh, "shared/redis/sources.generated.ts is stale: run npm run redis:scripts").toBe(true);
  });

  it("includes are resolved", () => {
    for (const s of Object.values(SCRIPTS)) expect(s.lua, s.name).not.toMatch(/@include/);
    expect(SCRIPTS.place_room.lua).toContain("local function k_sel(");
    expect(SCRIPTS.report_node.lua).toContain("local function decay_factor(");
  });

  it("every argument a script reads is documented in its header", () => {
    for (const [name, source] of Object.entries(LUA_SOURCES)) {
      if (name.startsWith("includes/")) continue;
      const end = source.indexOf("]]");
      const header = source.slice(0, end);
      const body = source.slice(end);
      const argv = header.split("ARGV[1] JSON object:")[1] ?? "";
      const documented = new Set(
        argv.split("\n").flatMap((line) => /^\s{6}([\w, ]+?)(\s{2,}|$)/.exec(line)?.[1]?.split(/,\s*/) ?? []),
      );
      const read = new Set([...body.matchAll(/\ba\.(\w+)/g)].map((m) => m[1]!));
      for (const arg of read) expect(documented, `${name}: ARGV ${arg}`).toContain(arg);
      if (read.size === 0) expect(body, `${name} decodes ARGV it does not document`).not.toContain("cjson.decode(ARGV");
    }
  });

  it("named arguments reach Redis as the raw ARGV did: any string (NUL, astral, lone surrogate → U+FFFD)", async () => {
    const identity = 'a\u0000b \u{1F600} \ud800 "quoted" \\';
    const p = { identity, sid: "PA_1", joinedAt: 1, signalNode: "n1", tracks: [] };
    expect(await upsertParticipant(run, "r", p, "n1")).toBe(true);
    const fields = await redis.hkeysBuffer(keys.roomParticipants("r"));
    expect(fields).toEqual([Buffer.from(identity, "utf8")]);
  });
});
