// Pure parts of the media node: config resolution, token → join parameters, rate limiting,
// load figures.
import { describe, expect, it } from "vitest";
import { ErrorCode } from "#shared/errors.ts";
import { type ProtocolError, defaultSource, sourceFitsKind } from "#shared/protocol.ts";
import type { TokenClaims } from "#shared/token.ts";
import { ConfigError, resolveConfig } from "../../media-node/src/config.ts";
import { createHmac } from "node:crypto";
import { iceServersFor, turnCredentials } from "../../media-node/src/signaling/turn.ts";
import { byteRate, cpuLoad, sysload } from "../../media-node/src/cluster/node-stats.ts";
import { TokenBucket } from "../../media-node/src/signaling/rate-limit.ts";
import { canPublishSource } from "#shared/grants.ts";
import { joinParamsFromClaims } from "../../media-node/src/signaling/signaling-server.ts";

describe("resolveConfig", () => {
  it("merges YAML and env (env wins), applies defaults, derives signal_url", () => {
    const c = resolveConfig(
      { region: "eu-west", http_port: 9000, announced_address: "203.0.113.7" },
      { API_KEYS: "k:s", HTTP_PORT: "9100", WORKERS: "3" },
    );
    expect(c.region).toBe("eu-west");
    expect(c.http_port).toBe(9100);
    expect(c.workers).toBe(3);
    expect(c.signal_url).toBe("ws://203.0.113.7:9100/rtc");
    expect(c.standalone).toBe(true);
    expect(c.api_keys.get("k")).toBe("s");
    expect(c.node_id).toMatch(/^[A-Za-z0-9._-]+$/);
  });

  it("TURN: turn_urls needs turn_secret; URIs must be turn:/turns:; resume grace defaults to 15 s", () => {
    expect(() => resolveConfig({}, { API_KEYS: "k:s", TURN_URLS: "turn:127.0.0.1:3478" })).toThrow(ConfigError);
    expect(() => resolveConfig({}, { API_KEYS: "k:s", TURN_URLS: "http://x", TURN_SECRET: "s".repeat(16) })).toThrow(
      /turn/,
    );
    const c = resolveConfig(
      {},
      {
        API_KEYS: "k:s",
        TURN_URLS: "turn:a:3478?transport=udp, turns:a:443?transport=tcp",
        TURN_SECRET: "s".repeat(16),
      },
    );
    expect(c.turn_urls).toEqual(["turn:a:3478?transport=udp", "turns:a:443?transport=tcp"]);
    expect(c.turn_credential_ttl_s).toBe(86_400);
    expect(c.resume_grace_ms).toBe(15_000);
  });

  it("TURN REST credentials: username <expiry>:<user>, credential base64(HMAC-SHA1(secret, username))", () => {
    const now = 1_700_000_000_000;
    const c = turnCredentials("secret", "PA_1", 600, now);
    expect(c.username).toBe("1700000600:PA_1");
    expect(c.credential).toBe(createHmac("sha1", "secret").update("1700000600:PA_1").digest("base64"));
    expect(iceServersFor(undefined, "PA_1")).toBeUndefined();
    expect(iceServersFor({ urls: ["turn:a"], secret: "secret", ttlSec: 600 }, "PA_1", now)).toEqual([
      { urls: ["turn:a"], ...c },
    ]);
  });

  it("is cluster mode with a redis_url", () => {
    expect(resolveConfig({}, { API_KEYS: "k:s", REDIS_URL: "redis://127.0.0.1:1" }).standalone).toBe(false);
  });

  it.each([
    [{}, {}, /api_keys/],
    [{}, { API_KEYS: "nocolon" }, /api_keys/],
    [{}, { API_KEYS: "k:s", HTTP_PORT: "99999" }, /http_port/],
    [{ node_id: "bad id!" }, { API_KEYS: "k:s" }, /node_id/],
  ])("rejects bad config %#", (file, env, msg) => {
    expect(() => resolveConfig(file, env)).toThrow(ConfigError);
    expect(() => resolveConfig(file, env)).toThrow(msg);
  });

  it("never echoes the secret in errors", () => {
    try {
      resolveConfig({}, { API_KEYS: "key:topsecret", HTTP_PORT: "x" });
    } catch (e) {
      expect(String(e)).not.toContain("topsecret");
    }
  });
});

const claims = (over: Partial<TokenClaims> = {}): TokenClaims => ({
  iss: "k",
  sub: "alice",
  exp: 0,
  video: { roomJoin: true, room: "r1" },
  ...over,
});

describe("joinParamsFromClaims", () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as ProtocolError).code;
    }
    return "none";
  };

  it("grants absent permissions (LiveKit semantics) and names the host node", () => {
    const p = joinParamsFromClaims(claims({ meridian: { node: "n1", region: "eu" } }), undefined, true);
    expect(p).toMatchObject({ room: "r1", identity: "alice", hostNode: "n1" });
    expect(p.permissions).toEqual({ canPublish: true, canSubscribe: true, canPublishData: true, hidden: false });
    const q = joinParamsFromClaims(claims({ video: { roomJoin: true, room: "r1", canPublish: false } }), "r1", false);
    expect(q.permissions.canPublish).toBe(false);
  });

  it("reads grants as LiveKit does: data follows canPublish, an empty source list allows all", () => {
    const grant = (v: TokenClaims["video"]) =>
      joinParamsFromClaims(claims({ video: { roomJoin: true, room: "r1", ...v } }), "r1", false).permissions;
    expect(grant({ canPublish: false })).toMatchObject({ canPublish: false, canPublishData: false });
    expect(grant({ canPublish: false, canPublishData: true }).canPublishData).toBe(true);
    expect(grant({ canPublishSources: [] })).not.toHaveProperty("canPublishSources");
    expect(grant({ canPublishSources: ["microphone"], hidden: true })).toMatchObject({
      canPublishSources: ["microphone"],
      hidden: true,
    });
  });

  it("allows a source only when canPublish and the list (if any) name it", () => {
    const base = { canPublish: true, canSubscribe: true, canPublishData: true, hidden: false };
    expect(canPublishSource(base, "screen_share")).toBe(true);
    expect(canPublishSource({ ...base, canPublishSources: ["microphone"] }, "microphone")).toBe(true);
    expect(canPublishSource({ ...base, canPublishSources: ["microphone"] }, "camera")).toBe(false);
    expect(canPublishSource({ ...base, canPublishSources: ["microphone"] }, "unknown")).toBe(false);
    expect(canPublishSource({ ...base, canPublish: false }, "microphone")).toBe(false);
  });

  it("a track's source must match its kind", () => {
    expect(defaultSource("audio")).toBe("microphone");
    expect(defaultSource("video")).toBe("camera");
    expect(sourceFitsKind("microphone", "video")).toBe(false);
    expect(sourceFitsKind("screen_share_audio", "audio")).toBe(true);
    expect(sourceFitsKind("screen_share", "video")).toBe(true);
    expect(sourceFitsKind("unknown", "video")).toBe(true);
  });

  it.each([
    ["no roomJoin", claims({ video: { room: "r1" } }), undefined, false],
    ["no room", claims({ video: { roomJoin: true } }), undefined, false],
    ["other room", claims(), "r2", false],
    ["no identity", claims({ sub: undefined }), undefined, false],
    ["cluster token without meridian claim", claims(), undefined, true],
  ])("%s → forbidden", (_n, c, room, cluster) => {
    expect(code(() => joinParamsFromClaims(c, room, cluster))).toBe(ErrorCode.Forbidden);
  });
});

describe("TokenBucket", () => {
  it("allows the burst, then the rate", () => {
    const b = new TokenBucket(10, 5, 0);
    const taken = Array.from({ length: 8 }, () => b.take(0)).filter(Boolean).length;
    expect(taken).toBe(5);
    expect(b.take(50)).toBe(false); // 0.5 token
    expect(b.take(100)).toBe(true); // 1 token after 100 ms at 10/s
  });
});

describe("node stats", () => {
  it("cpu load is 1 − idle share of the window", () => {
    expect(cpuLoad({ idle: 100, total: 200 }, { idle: 150, total: 400 })).toBeCloseTo(0.75);
    expect(cpuLoad({ idle: 1, total: 1 }, { idle: 1, total: 1 })).toBe(0);
  });
  it("sysload = load1 / cpus", () => expect(sysload(1.5, 2)).toBe(0.75));
  it("byte rate counts only transports seen twice", () => {
    const prev = new Map([
      ["a", 1000],
      ["gone", 50],
    ]);
    const cur = new Map([
      ["a", 3000],
      ["new", 999],
    ]);
    expect(byteRate(prev, cur, 2000)).toBe(1000);
  });
});
