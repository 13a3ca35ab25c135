// The Lua scripts, one per shared/redis/scripts/*.lua (each file's header documents its KEYS and
// its named arguments). A script's `-- @include <name>` lines are replaced here by:
//   keys          the key functions (k_node, k_room, ...) generated from keys.ts, so the key
//                 layout is written down once
//   metrics       METRICS and SEL_FIELDS as Lua lists, from selector/metrics.ts and keys.ts
//   <other>       scripts/includes/<other>.lua
import { LUA_KEY_FUNCTIONS, SEL_FIELDS } from "../keys.ts";
import { METRICS } from "../selector/metrics.ts";
import type { RedisScript } from "./runner.ts";
import { LUA_SOURCES } from "./sources.generated.ts";

const luaList = (xs: readonly string[]) => `{ ${xs.map((x) => `'${x}'`).join(", ")} }`;

const GENERATED_INCLUDES: Readonly<Record<string, string>> = {
  keys: LUA_KEY_FUNCTIONS,
  metrics: `local METRICS = ${luaList(METRICS)}\nlocal SEL_FIELDS = ${luaList(SEL_FIELDS)}`,
};

function include(name: string): string {
  const text = GENERATED_INCLUDES[name] ?? (LUA_SOURCES as Record<string, string>)[`includes/${name}`];
  if (text === undefined) throw new Error(`lua: unknown include ${name}`);
  return text.trimEnd();
}

function assemble(source: string): string {
  return source.replace(/^-- @include (\S+)$/gm, (_, name: string) => include(name));
}

type ScriptName = Exclude<keyof typeof LUA_SOURCES, `includes/${string}`>;

export const SCRIPTS = Object.fromEntries(
  Object.entries(LUA_SOURCES)
    .filter(([name]) => !name.startsWith("includes/"))
    .map(([name, source]) => [name, { name, lua: assemble(source) }]),
) as Record<ScriptName, RedisScript>;
