// Bus authentication (shared/bus.ts, media-node/src/cluster/bus-auth.ts), pure parts: the Worker's
// WebCrypto signer and a node's node:crypto verifier agree; what is refused and why; the replay
// cache stays bounded without ever accepting a message twice.
import { describe, expect, it } from "vitest";
import { BUS_MAX_SKEW_MS, CONTROL_PLANE, ReplayGuard, busSigner, deriveBusKey } from "#shared/bus.ts";
import { BusAuth, deriveBusKeySync } from "../../media-node/src/cluster/bus-auth.ts";
import { encodeAssertion, decodeAssertion } from "../../media-node/src/signaling/join-assertion.ts";

const keys = new Map([
  ["k1", "first-secret-long-enough-for-hs256-tokens"],
  ["k2", "second-secret-long-enough-for-hs256-tok"],
]);

describe("bus authentication", () => {
  it("derives the same bus key with WebCrypto and node:crypto, and never the API secret itself", async () => {
    const web = Buffer.from(await deriveBusKey(keys.get("k1")!));
    expect(web.equals(deriveBusKeySync(keys.get("k1")!))).toBe(true);
    expect(web.toString("latin1")).not.toContain(keys.get("k1")!.slice(0, 8));
    expect(web).toHaveLength(32);
  });

  it("a node opens what the control plane sealed for its channel, and only that", async () => {
    const seal = await busSigner(keys, CONTROL_PLANE);
    const node = new BusAuth(keys, "n1");
    const raw = await seal("bus:n1", '{"type":"room.delete","room":"r"}');
    expect(node.open("bus:n1", raw)).toEqual({ from: CONTROL_PLANE, payload: '{"type":"room.delete","room":"r"}' });
    expect(node.open("bus:n1", raw)).toBe("replayed");
    expect(node.open("bus:n2", await seal("bus:n1", "{}"))).toBe("bad_mac"); // another node's message
    expect(node.open("bus:n1", '{"type":"room.delete","room":"r"}')).toBe("unsigned");
    expect(node.open("bus:n1", '["mb1","k1"]\n{}')).toBe("malformed");
    expect(node.open("bus:n1", raw.replace('"k1"', '"k9"'))).toBe("unknown_key");
    expect(node.open("bus:n1", raw.replace('"control-plane"', '"n2"'))).toBe("bad_mac"); // claims another sender
    expect(node.open("bus:n1", await seal("bus:n1", "{}", Date.now() - BUS_MAX_SKEW_MS - 1_000))).toBe("stale");
    expect(node.rejected).toEqual({ unsigned: 1, malformed: 1, unknown_key: 1, bad_mac: 2, stale: 1, replayed: 1 });
  });

  it("verifies with any configured key (rotation) and signs with the first", () => {
    const oldOnly = new BusAuth(new Map([["k2", keys.get("k2")!]]), "a");
    const both = new BusAuth(keys, "b");
    expect(both.open("bus:b", oldOnly.seal("bus:b", "x"))).toEqual({ from: "a", payload: "x" });
    expect(oldOnly.open("bus:a", both.seal("bus:a", "y"))).toBe("unknown_key");
  });

  it("the replay cache is bounded and never accepts a message twice", () => {
    const g = new ReplayGuard(1_000, 100);
    const now = 1_000_000;
    for (let i = 0; i < 500; i++) expect(g.admit("a", now + i, `n${i}`, now + i)).toBe("ok");
    expect(g.size).toBeLessThanOrEqual(100);
    // Anything that was evicted is older than the floor: refused as stale, not accepted again.
    for (let i = 0; i < 500; i++) expect(g.admit("a", now + i, `n${i}`, now + 500)).not.toBe("ok");
    // Entries expire with the window.
    expect(g.admit("b", now + 5_000, "fresh", now + 5_000)).toBe("ok");
    expect(g.size).toBe(1);
  });
});

describe("join assertion", () => {
  const claims = {
    iss: "k1",
    sub: "alice",
    exp: Math.floor(Date.now() / 1000) + 600,
    video: { roomJoin: true, room: "r" },
    metadata: "x".repeat(1000),
  };

  it("carries the verified claims without the metadata, and refuses expired or malformed ones", () => {
    const a = encodeAssertion(claims);
    expect(a).not.toContain("xxxx");
    expect(decodeAssertion(a)).toEqual({
      claims: { iss: "k1", sub: "alice", exp: claims.exp, video: { roomJoin: true, room: "r" } },
    });
    expect(decodeAssertion(encodeAssertion({ ...claims, exp: 1 }))).toEqual({ error: "join assertion expired" });
    expect(decodeAssertion("eyJhbGciOiJIUzI1NiJ9.e30.x")).toEqual({ error: "malformed join assertion" });
    expect(decodeAssertion(JSON.stringify({ v: 1, claims: { ...claims, extra: 1 }, more: 2 }))).toEqual({
      error: "malformed join assertion",
    });
  });
});
