// Fuzz: random, malformed, oversized and out-of-order envelopes published straight into both
// endpoints' inboxes — most of them well-formed and aimed at live sessions — never throw or crash;
// a live session the fuzzer hits either keeps working or closes with a valid code; a session the
// fuzzer does not know keeps working; all state is freed afterwards. Arbitrary frames cross the
// bridge unchanged.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRedis } from "../support/redis.ts";
import { BridgeCloseCode, type BridgeEndpoint, type BridgeSession } from "../../media-node/src/bridge/index.ts";
import { isValidCloseCode } from "../../media-node/src/bridge/codes.ts";
import { maxEnvelopeBytes, defaultBridgeOptions } from "../../media-node/src/bridge/options.ts";
import { collect, echo, FakeNode, opened, startEndpoint, until } from "./support.ts";

const small = { maxFrameBytes: 4_096, maxBatchBytes: 4_096 };
const envelopeLimit = maxEnvelopeBytes({ ...defaultBridgeOptions, ...small });
const POOL = 4;

let redis: TestRedis;
let sig: BridgeEndpoint;
let host: BridgeEndpoint;
let fuzzer: FakeNode;
const busSeen: Record<string, unknown>[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  sig = await startEndpoint(redis, "fz-sig", small);
  host = await startEndpoint(redis, "fz-host", small);
  host.onSession((s, init) => (init.assertion === "good" ? echo(s) : s.close(BridgeCloseCode.Refused, "bad token")));
  for (const ep of [sig, host]) ep.onBusMessage((m) => busSeen.push(m));
  fuzzer = await FakeNode.start(redis, "fz-fuzzer");
});

afterAll(async () => {
  fuzzer?.stop();
  await sig?.close();
  await host?.close();
  await redis?.stop();
});

/** Sends a frame through the echo host; resolves when it comes back or the session closes. */
async function roundTrip(s: BridgeSession, frame: string): Promise<"echoed" | "closed"> {
  // Echoes of injected frames may still be in flight: wait for ours among them.
  const got = collect(s);
  s.send(frame);
  await until(() => got.frames.includes(frame) || s.state === "closed", 10_000, `echo of ${frame}`);
  s.removeAllListeners("message");
  return got.frames.includes(frame) ? "echoed" : "closed";
}

/** Waits until both endpoints have processed everything the fuzzer published before. */
async function drained(): Promise<void> {
  const marker = { type: "fuzz.sync", n: Math.random() };
  await fuzzer.sealed("fz-sig", JSON.stringify(marker));
  await fuzzer.sealed("fz-host", JSON.stringify(marker));
  await until(() => busSeen.filter((m) => m.n === marker.n).length === 2, 10_000, "fuzz sync marker");
}

type Target = "fz-sig" | "fz-host";
/** An envelope (its session id may be a victim placeholder, filled in at send time) or raw text. */
type Shot = { to: Target; env: Record<string, unknown> } | { to: Target; raw: string };
const victimRef = (i: number) => `victim:${i}`;

/** Mostly well-formed envelopes aimed at live sessions (both directions), at unknown sessions and
 *  as forged opens; then the same with one field broken or removed; then plain garbage. */
function shotArb(): fc.Arbitrary<Shot> {
  const seq = fc.oneof(
    { weight: 8, arbitrary: fc.nat(40) },
    { weight: 1, arbitrary: fc.constant(Number.MAX_SAFE_INTEGER) },
  );
  // Acks beyond what the receiver sent close the session (ProtocolError): mostly 0 so victims live on.
  const ack = fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: seq });
  const frames = fc.array(fc.string({ unit: "binary", maxLength: 100 }), { minLength: 1, maxLength: 8 });
  const body = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({ k: fc.constant("data"), q: seq.map((n) => Math.max(1, n)), m: frames, a: ack }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constantFrom("ping", "ack"), a: ack }) },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constantFrom("open", "accept"),
        init: fc.record({ assertion: fc.constantFrom("good", "bad") }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constantFrom("refuse", "close"),
        c: fc.constantFrom(1000, 4100, 4105, 4999),
        w: fc.string({ maxLength: 40 }),
      }),
    },
  );
  const victimShot = fc.tuple(fc.nat(POOL - 1), fc.boolean(), body).map(
    ([i, toHost, b]): Shot => ({
      to: toHost ? "fz-host" : "fz-sig",
      env: { t: "bridge", v: 1, s: victimRef(i), f: toHost ? "fz-sig" : "fz-host", r: toHost ? "s" : "h", ...b },
    }),
  );
  const strangerShot = fc
    .tuple(
      fc.constantFrom<Target>("fz-sig", "fz-host"),
      fc.uuid(),
      fc.constantFrom("s", "h"),
      fc.constantFrom("fz-fuzzer", "fz-sig", "fz-host"),
      body,
    )
    .map(([to, s, r, f, b]): Shot => ({ to, env: { t: "bridge", v: 1, s, f, r, ...b } }));
  const forgedOpen = fc.tuple(fc.uuid(), fc.constantFrom("good", "bad")).map(
    ([s, token]): Shot => ({
      to: "fz-host",
      env: { t: "bridge", v: 1, k: "open", s, f: "fz-fuzzer", r: "s", init: { assertion: token } },
    }),
  );
  const wellFormed = fc.oneof(
    { weight: 6, arbitrary: victimShot },
    { weight: 2, arbitrary: strangerShot },
    { weight: 1, arbitrary: forgedOpen },
  );
  const fields = ["t", "v", "k", "s", "f", "r", "q", "m", "a", "c", "w", "init"] as const;
  const broken = fc
    .tuple(wellFormed, fc.constantFrom(...fields), fc.option(fc.anything(), { nil: undefined }))
    .map(
      ([shot, field, value]): Shot => ("env" in shot ? { to: shot.to, env: { ...shot.env, [field]: value } } : shot),
    );
  const garbage = fc
    .tuple(
      fc.constantFrom<Target>("fz-sig", "fz-host"),
      fc.oneof(fc.json(), fc.string({ unit: "binary", maxLength: 300 })),
    )
    .map(([to, raw]): Shot => ({ to, raw }));
  // Oversized: just past the inbox limit, padded inside a plausible envelope.
  const oversized = fc.nat(1_000).map(
    (n): Shot => ({
      to: "fz-host",
      env: { t: "bridge", v: 1, k: "data", s: victimRef(0), q: 1, m: ["z".repeat(envelopeLimit + n)], a: 0 },
    }),
  );
  return fc.oneof(
    { weight: 8, arbitrary: wellFormed },
    { weight: 3, arbitrary: broken },
    { weight: 2, arbitrary: garbage },
    { weight: 1, arbitrary: oversized },
  );
}

describe("bridge fuzz", () => {
  it("survives random inbox traffic; live sessions work or close cleanly; no state leaks", async () => {
    const bystander = sig.open("fz-host", { assertion: "good" });
    await opened(bystander);
    const victims: BridgeSession[] = [];
    const victimCloses: number[] = [];
    const refill = async () => {
      for (let i = 0; i < POOL; i++) {
        if (victims[i]?.state === "open") continue;
        const v = sig.open("fz-host", { assertion: "good" });
        v.on("close", (e) => victimCloses.push(e.code));
        await opened(v);
        victims[i] = v;
      }
    };

    await fc.assert(
      fc.asyncProperty(fc.array(shotArb(), { minLength: 1, maxLength: 6 }), async (shots) => {
        await refill();
        for (const shot of shots) {
          const raw =
            "raw" in shot
              ? shot.raw
              : JSON.stringify(shot.env).replace(/victim:(\d)/g, (_, i: string) => victims[Number(i)]!.id);
          // An insider with the cluster's bus key, signing as the node the envelope names, so the
          // fuzz reaches the sessions; the bus authentication itself is tested in delivery.test.ts.
          const as =
            "env" in shot && typeof shot.env.f === "string" && shot.env.f.length > 0 && shot.env.f.length <= 128
              ? shot.env.f
              : undefined;
          await fuzzer.sealed(shot.to, raw, as);
        }
      }),
      { numRuns: 300 },
    );
    await drained();

    const m = [sig.metrics, host.metrics];
    // The fuzz reached the interesting paths, not just the parser.
    expect(m[0]!.envelopesDropped + m[1]!.envelopesDropped).toBeGreaterThan(0);
    expect(m[0]!.framesReceived + m[1]!.framesReceived).toBeGreaterThan(0);
    expect(m[0]!.framesDuplicate + m[1]!.framesDuplicate).toBeGreaterThan(0);
    expect(m[0]!.listenerErrors + m[1]!.listenerErrors).toBe(0);

    expect(await roundTrip(bystander, "still here")).toBe("echoed");
    for (const v of victims) if (v.state === "open") await roundTrip(v, "victim probe");
    await until(
      () => victims.every((v) => v.state !== "closed") || victimCloses.length > 0,
      5_000,
      "victim close events",
    );
    expect(victimCloses.every(isValidCloseCode)).toBe(true);

    const fresh = sig.open("fz-host", { assertion: "good" });
    await opened(fresh);
    expect(await roundTrip(fresh, "new session after fuzz")).toBe("echoed");

    // Sessions the fuzzer opened with forged senders time out; then nothing is left.
    for (const s of [bystander, fresh, ...victims]) if (s.state !== "closed") s.close();
    await until(() => sig.sizes.relayed === 0 && host.sizes.hosted === 0, 15_000, "all sessions freed");
  });

  it("carries arbitrary frames (any unicode, lone surrogates, JSON-looking) unchanged and in order", async () => {
    const s = sig.open("fz-host", { assertion: "good" });
    const got = collect(s);
    await opened(s);
    let expected: string[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: "binary", maxLength: 1_000 }), { minLength: 1, maxLength: 10 }),
        async (frames) => {
          for (const f of frames) s.send(f);
          expected = expected.concat(frames);
          await got.waitFor(expected.length);
          expect(got.frames).toEqual(expected);
        },
      ),
      { numRuns: 100 },
    );
    s.close();
  });
});
