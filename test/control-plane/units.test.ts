// Pure parts of the Worker: grant narrowing, settings parsing, Lua key functions.
import { describe, expect, it } from "vitest";
import { settings, type Env } from "../../control-plane/src/env.ts";
import { ApiError } from "../../control-plane/src/errors.ts";
import { mediaGrants } from "../../control-plane/src/grants.ts";
import { LUA_KEY_FUNCTIONS, decodeKeyPart, encodeKeyPart, keys } from "#shared/keys.ts";

describe("mediaGrants", () => {
  it.each([
    [
      "token grants pass through",
      { canPublish: true, canSubscribe: false },
      {},
      { canPublish: true, canSubscribe: false },
    ],
    ["a request may drop a permission", { canPublish: true }, { canPublish: false }, { canPublish: false }],
    ["absent means allowed (LiveKit), so asking is fine", {}, { canPublish: true }, { canPublish: true }],
    [
      "sources narrow to a subset",
      { canPublishSources: ["camera", "microphone"] },
      { canPublishSources: ["camera"] },
      { canPublishSources: ["camera"] },
    ],
    ["hidden may be dropped", { hidden: true }, { hidden: false }, { hidden: false }],
    [
      "an empty source list on an unlimited token stays unlimited",
      {},
      { canPublishSources: [] },
      { canPublishSources: [] },
    ],
    [
      "an empty source list on the token allows any subset",
      { canPublishSources: [] },
      { canPublishSources: ["camera"] },
      { canPublishSources: ["camera"] },
    ],
  ])("%s", (_n, token, req, expected) => {
    expect(mediaGrants(token, "r", req)).toEqual({ roomJoin: true, room: "r", ...expected });
  });
  it.each([
    ["canPublish", { canPublish: false }, { canPublish: true }],
    ["canSubscribe", { canSubscribe: false }, { canSubscribe: true }],
    ["canPublishData", { canPublishData: false }, { canPublishData: true }],
    ["canPublishData (absent follows canPublish)", { canPublish: false }, { canPublishData: true }],
    ["sources", { canPublishSources: ["camera"] }, { canPublishSources: ["camera", "screen_share"] }],
    // An empty list is LiveKit's "every source": asking for it widens a limited token (issue 12 #4).
    ["sources to every source (empty list)", { canPublishSources: ["microphone"] }, { canPublishSources: [] }],
    ["hidden", {}, { hidden: true }],
  ])("never widens %s (403)", (_n, token, req) => {
    expect(() => mediaGrants(token, "r", req)).toThrow(expect.objectContaining({ status: 403, code: "forbidden" }));
  });
  it("drops admin grants from the media token", () => {
    expect(mediaGrants({ roomAdmin: true, roomCreate: true, canPublish: true }, "r")).toEqual({
      roomJoin: true,
      room: "r",
      canPublish: true,
    });
  });
});

describe("settings", () => {
  const base: Env = { API_KEYS: "k:s", UPSTASH_REDIS_REST_URL: "http://127.0.0.1:1", UPSTASH_REDIS_REST_TOKEN: "t" };
  it("defaults: LiveKit-shaped selector defaults, 600 s tokens, auto-create on", () => {
    const s = settings({ ...base });
    expect(s.selector).toMatchObject({ kind: "regionaware", algorithm: "lowest", regions: [] });
    expect(s.joinTokenTtl).toBe(600);
    expect(s.autoCreate).toBe(true);
    expect(s.apiKeys.get("k")).toBe("s");
    expect(s.corsOrigins.size).toBe(0);
    expect(s.roomsPerApiKey).toBe(1000);
    expect(s.cascade).toEqual({ enabled: false, max_nodes_per_room: 8, participants_per_node: 200 });
  });
  it("reads CASCADE (the deploy config's cascade section) as JSON text or as a table", () => {
    const cascade = { enabled: true, max_nodes_per_room: 3, participants_per_node: 50 };
    expect(settings({ ...base, CASCADE: JSON.stringify(cascade) }).cascade).toEqual(cascade);
    expect(settings({ ...base, CASCADE: { enabled: true } }).cascade).toMatchObject({ enabled: true });
  });
  it("accepts NODE_SELECTOR as JSON text or as a table", () => {
    const sel = { kind: "sysload", sort_by: "rooms", regions: [{ name: "a", lat: 1, lon: 2 }] };
    expect(settings({ ...base, NODE_SELECTOR: JSON.stringify(sel), DEFAULT_REGION: "a" }).selector).toMatchObject(sel);
    expect(settings({ ...base, NODE_SELECTOR: sel, AUTO_CREATE: "false" })).toMatchObject({
      selector: sel,
      autoCreate: false,
    });
  });
  it.each([
    ["NODE_SELECTOR not JSON", { NODE_SELECTOR: "{" }, /NODE_SELECTOR is not JSON/],
    ["unknown kind", { NODE_SELECTOR: '{"kind":"fastest"}' }, /NODE_SELECTOR/],
    ["bad TTL", { JOIN_TOKEN_TTL: "5" }, /JOIN_TOKEN_TTL/],
    ["no API keys", { API_KEYS: "" }, /API_KEYS/],
    ["no Redis", { UPSTASH_REDIS_REST_URL: "" }, /UPSTASH_REDIS_REST_URL/],
    ["unknown default region", { DEFAULT_REGION: "mars" }, /DEFAULT_REGION/],
    ["API key longer than tokens may name", { API_KEYS: `${"k".repeat(129)}:s` }, /API_KEYS: API keys are at most 128/],
    ["CORS origin with a path", { CORS_ORIGINS: "https://app.example/x" }, /CORS_ORIGINS/],
    ["negative room quota", { ROOMS_PER_API_KEY: "-1" }, /ROOMS_PER_API_KEY/],
    ["CASCADE not JSON", { CASCADE: "enabled" }, /CASCADE is not JSON/],
    ["CASCADE out of range", { CASCADE: '{"enabled":true,"max_nodes_per_room":0}' }, /CASCADE: .*max_nodes_per_room/s],
  ])("%s → a clear 500 (operator error, never the caller's)", (_n, patch, message) => {
    let err: unknown;
    try {
      settings({ ...base, ...patch });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 500, code: "internal", message: expect.stringMatching(message) });
  });
});

describe("Lua key functions", () => {
  it("are generated from keys.ts, every parameter encoded", () => {
    expect(LUA_KEY_FUNCTIONS).toContain(`local function k_node(a1) return "${keys.node("")}" .. k_enc(a1) end`);
    expect(LUA_KEY_FUNCTIONS).toContain(
      `local function k_sel(a1, a2) return "${keys.sel("", "").split("::")[0]}:" .. k_enc(a1) .. ":" .. k_enc(a2) end`,
    );
    expect(LUA_KEY_FUNCTIONS).toContain(`local function k_nodes() return "${keys.nodes()}" end`);
  });

  it("no key parameter can produce another key", () => {
    expect(keys.room("X:participants")).not.toBe(keys.roomParticipants("X"));
    expect(keys.node("n:rooms")).not.toBe(keys.nodeRooms("n"));
    expect(keys.sel("eu:expiry", "x")).not.toBe(keys.sel("eu", "expiry:x"));
    expect(keys.room("a%3Ab")).not.toBe(keys.room("a:b")); // "%" itself is encoded
    for (const s of ["X:participants", "a b", "é", "*", "%", "\u0000", "plain-room_1.~"])
      expect(decodeKeyPart(encodeKeyPart(s))).toBe(s);
    expect(encodeKeyPart("plain-room_1.~")).toBe("plain-room_1.~");
    expect(encodeKeyPart("a:b/é")).toBe("a%3Ab%2F%C3%A9");
  });
});
