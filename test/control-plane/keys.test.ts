// Redis keys carry user-chosen strings (room names, node ids, regions) only encoded
// (shared/keys.ts encodeKeyPart): on a real redis-server, the Lua key functions the scripts use
// build exactly the keys TypeScript builds, and a name that spells another key ("X:participants",
// "n:rooms") writes and deletes only its own keys.
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { LUA_KEY_FUNCTIONS, keys } from "#shared/keys.ts";
import type { RedisScript, ScriptRunner } from "#shared/redis/runner.ts";
import type { ParticipantRecord } from "#shared/records.ts";
import { claimRoom, closeRoom, removeNode, reportNode, sweepDeadNodes, upsertParticipant } from "#shared/registry.ts";
import { listRooms } from "../../control-plane/src/store.ts";
import { nodeRecord } from "../support/nodes.ts";
import { scriptRedisPerFile } from "../support/redis.ts";

let r: Redis;
let run: ScriptRunner;
scriptRedisPerFile((c) => {
  r = c.redis;
  run = c.run;
});

const participant = (identity: string, node: string): ParticipantRecord => ({
  identity,
  sid: `PA_${identity}`,
  joinedAt: 1,
  signalNode: node,
  tracks: [],
});

const NAMES = [
  "plain-room_1.~",
  "X:participants",
  "a:b:c",
  "100%",
  "a%3Ab",
  "sp ace/slash\\back*star?q[br]",
  "é日本🎥",
  "\u0000nul\nline",
  String.fromCharCode(...Array.from({ length: 128 }, (_, i) => i)),
];

describe("Lua and TypeScript build the same keys", () => {
  it("every key of the layout, for every ASCII byte and multi-byte UTF-8", async () => {
    const layout = Object.entries(keys) as [string, (...a: string[]) => string][];
    const snake = (n: string) => n.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const script: RedisScript = {
      name: "key_functions_probe",
      lua: `${LUA_KEY_FUNCTIONS}
local a = cjson.decode(ARGV[1]).name
return { ${layout.map(([n, f]) => `k_${snake(n)}(${Array(f.length).fill("a").join(", ")})`).join(", ")} }`,
    };
    for (const name of NAMES) {
      const lua = await run.run(script, [], { name });
      expect(lua, JSON.stringify(name)).toEqual(layout.map(([, f]) => f(...Array(f.length).fill(name))));
    }
  });
});

describe("a name that spells another key touches only its own keys", () => {
  it("room 'X:participants' neither adds to nor deletes room X's participants", async () => {
    await reportNode(run, nodeRecord({ id: "n" }));
    expect(await claimRoom(run, "X", { id: "n", region: "us-east" }, true)).toBe(true);
    await upsertParticipant(run, "X", participant("alice", "n"), "n");
    expect(await claimRoom(run, "X:participants", { id: "n", region: "us-east" }, true)).toBe(true);
    await upsertParticipant(run, "X:participants", participant("mallory", "n"), "n");
    expect(await r.hkeys(keys.roomParticipants("X"))).toEqual(["alice"]);
    expect(await closeRoom(run, "X:participants", "n")).toBe(true);
    expect(await r.hkeys(keys.roomParticipants("X"))).toEqual(["alice"]);
    expect(await r.hget(keys.room("X"), "node")).toBe("n");
    // The list API shows names as they were given, not as encoded in keys.
    expect((await listRooms(run, 10)).rooms.map((v) => [v.name, v.numParticipants])).toEqual([["X", 1]]);
  });

  it("node 'n:rooms' neither overwrites nor sweeps node n's room set", async () => {
    await reportNode(run, nodeRecord({ id: "n" }));
    expect(await claimRoom(run, "room", { id: "n", region: "us-east" }, true)).toBe(true);
    await reportNode(
      run,
      nodeRecord({ id: "n:rooms", region: "us-east:expiry", signalUrl: "wss://n-rooms.example.test/signal" }),
    );
    expect(await r.type(keys.nodeRooms("n"))).toBe("set");
    await removeNode(run, "n:rooms");
    await r.del(keys.node("n:rooms"));
    await sweepDeadNodes(run, Date.now() + 60_000);
    expect(await r.smembers(keys.nodeRooms("n"))).toEqual(["room"]);
    expect(await r.zscore(keys.sel("us-east", "expiry"), "n")).not.toBeNull();
  });
});
