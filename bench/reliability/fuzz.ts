// Fuzz: generated inputs (fast-check, seeded) against the HTTP API through the real Worker and
// against the signaling protocol on a real media node. Bad input must get a 4xx with the JSON
// error body (HTTP) or an error reply with a non-internal code (signaling); no 5xx, no crash; and
// afterwards both still serve a valid join.
import fc from "fast-check";
import { ErrorCode } from "#shared/errors.ts";
import { METHODS, PROTOCOL_VERSION } from "#shared/protocol.ts";
import { mintToken } from "#shared/token.ts";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { startCluster } from "../../infra/local/cluster.ts";
import { pool, checker, type ScenarioResult } from "./report.ts";
import { REGION } from "./storm.ts";

const CODES = new Set<string>(Object.values(ErrorCode));
const ROUTES = [
  "/v1/join",
  "/v1/rooms",
  "/v1/rooms/fuzz-room",
  "/v1/rooms/fuzz-room/participants",
  "/v1/nodes",
  "/healthz",
  "/openapi.json",
];

export async function runFuzz(o: {
  httpInputs: number;
  signalInputs: number;
  seed: number;
  budgetMs: number;
}): Promise<ScenarioResult> {
  const { check, note, result } = checker("fuzz");
  const cluster = await startCluster({
    regions: [REGION],
    // The signaling fuzzer sends far faster than a client may; the rate limiter would answer
    // rate_limited before parsing, so it is opened up on this node only.
    nodes: [{ nodeId: "fuzz-n0", region: REGION.name, env: { SIGNAL_RATE_PER_SEC: "100000", SIGNAL_BURST: "100000" } }],
  });
  const node = cluster.nodes[0]!;
  const key = { apiKey: cluster.apiKey, apiSecret: cluster.apiSecret };
  const now = Math.floor(Date.now() / 1000);
  const tokens = await Promise.all([
    mintToken({ ...key, identity: "fz", video: { roomJoin: true, room: "fuzz-room" }, ttlSeconds: 600 }),
    mintToken({
      ...key,
      identity: "fz",
      video: { roomList: true, roomCreate: true, roomAdmin: true },
      ttlSeconds: 600,
    }),
    mintToken({
      ...key,
      identity: "fz",
      video: { roomJoin: true, room: "fuzz-room" },
      ttlSeconds: 60,
      now: now - 3600,
    }),
    mintToken({
      ...key,
      apiSecret: "not-the-secret-but-long-enough-x",
      identity: "fz",
      video: { roomJoin: true, room: "fuzz-room" },
      ttlSeconds: 600,
    }),
  ]);
  const deadline = Date.now() + o.budgetMs;

  // ---- HTTP ----
  const token = fc.oneof(fc.constantFrom(...tokens), fc.string({ maxLength: 200 }), tokenMutation(tokens));
  const header = fc.oneof(
    token.map((t) => ({ authorization: `Bearer ${t}` })),
    fc.string({ maxLength: 100 }).map((s) => ({ authorization: s.replace(/[\r\n\0]/g, "") })),
    fc.constant({}),
  );
  const body = fc.oneof(
    fc.json({ maxDepth: 3 }),
    fc.string({ maxLength: 300 }),
    fc
      .record(
        { token, room: fc.oneof(fc.string(), fc.integer()), identity: fc.anything(), grants: fc.anything() },
        { requiredKeys: [] },
      )
      .map((b) => JSON.stringify(b)),
    fc
      .record(
        {
          name: fc.oneof(fc.string({ maxLength: 300 }), fc.constant("fuzz-room"), fc.anything()),
          emptyTimeout: fc.anything(),
          maxParticipants: fc.anything(),
          region: fc.anything(),
        },
        { requiredKeys: [] },
      )
      .map((b) => JSON.stringify(b)),
  );
  const path = fc.oneof(
    fc.constantFrom(...ROUTES),
    fc.tuple(fc.constantFrom(...ROUTES), fc.string({ maxLength: 80 })).map(([r, s]) => `${r}/${encodeURIComponent(s)}`),
    fc.webPath(),
    fc.tuple(fc.constantFrom(...ROUTES), fc.webQueryParameters()).map(([r, q]) => `${r}?${q}`),
  );
  const request = fc.record({
    method: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"),
    path,
    headers: header,
    contentType: fc.constantFrom(
      "application/json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "",
      "application/json; charset=utf-8",
    ),
    body,
  });
  const inputs = fc.sample(request, { numRuns: o.httpInputs, seed: o.seed });
  const http = { sent: 0, fiveXx: [] as string[], badBody: [] as string[], statuses: new Map<number, number>() };
  await pool(inputs, 8, async (r) => {
    if (Date.now() > deadline) return;
    const init: Record<string, unknown> = {
      method: r.method,
      headers: { ...r.headers, ...(r.contentType ? { "content-type": r.contentType } : {}) },
    };
    if (r.method !== "GET" && r.method !== "HEAD") init.body = r.body;
    let res: { status: number; body: unknown };
    try {
      res = await cluster.workerFetch(r.path, init);
    } catch (e) {
      http.fiveXx.push(`${r.method} ${r.path}: client error ${(e as Error).message}`);
      return;
    }
    http.sent++;
    http.statuses.set(res.status, (http.statuses.get(res.status) ?? 0) + 1);
    if (res.status >= 500)
      http.fiveXx.push(`${r.method} ${r.path} → ${res.status} ${JSON.stringify(res.body).slice(0, 120)}`);
    else if (
      res.status >= 400 &&
      r.method !== "HEAD" &&
      !CODES.has((res.body as { error?: { code?: string } })?.error?.code ?? "")
    )
      http.badBody.push(`${r.method} ${r.path} → ${res.status} ${JSON.stringify(res.body).slice(0, 120)}`);
  });
  check(
    "HTTP: 0 × 5xx for generated input",
    http.fiveXx.length === 0 && http.sent === o.httpInputs,
    `${http.sent}/${o.httpInputs} sent; 5xx: ${http.fiveXx.length} ${http.fiveXx.slice(0, 2).join("; ")}`,
  );
  check(
    "HTTP: every 4xx has {error:{code,message}} with a stable code",
    http.badBody.length === 0,
    `${http.badBody.length} ${http.badBody.slice(0, 2).join("; ")}`,
  );
  note(
    `HTTP statuses: ${[...http.statuses]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s}×${n}`)
      .join(", ")}`,
  );

  // ---- signaling ----
  const frame = fc.oneof(
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
    {
      weight: 6,
      arbitrary: fc
        .record({
          v: fc.oneof({ weight: 8, arbitrary: fc.constant(PROTOCOL_VERSION) }, { weight: 1, arbitrary: fc.anything() }),
          id: fc.oneof({ weight: 8, arbitrary: fc.nat(2 ** 31) }, { weight: 1, arbitrary: fc.anything() }),
          method: fc.oneof(
            { weight: 8, arbitrary: fc.constantFrom(...METHODS.filter((m) => m !== "leave")) },
            { weight: 1, arbitrary: fc.string() },
          ),
          data: fc.oneof(fc.anything(), fc.object(), requestLike()),
        })
        .map((x) => JSON.stringify(x)),
    },
  );
  const frames = fc.sample(frame, { numRuns: o.signalInputs, seed: o.seed + 1 });
  const sig = { sent: 0, replies: 0, internal: [] as string[], closes: new Map<number, number>(), connections: 0 };
  // Below the socket's strike budget (signaling.ts SOCKET_BUDGET): every frame is parsed and answered.
  const PER_CONNECTION = 40;
  for (let off = 0; off < frames.length && Date.now() < deadline; off += PER_CONNECTION) {
    const batch = frames.slice(off, off + PER_CONNECTION);
    // Every 10th connection fuzzes before joining (no token in the URL): the pre-auth state.
    const authenticated = (off / PER_CONNECTION) % 10 !== 9;
    const url = new URL(node.signalUrl);
    if (authenticated) url.searchParams.set("access_token", await node.token(`fz-${off}`, "fuzz-room"));
    const c = await RawSocket.open(url.toString());
    sig.connections++;
    if (authenticated) {
      c.send(JSON.stringify({ v: PROTOCOL_VERSION, id: 0, method: "join", data: {} }));
      // Joined before the batch: frames sent while the join is verified count against the small
      // budget of a socket that has not joined (signaling-server.ts SOCKET_BUDGET).
      await c.waitReplies(1, 10_000);
    }
    for (const f of batch) {
      if (!c.open) break;
      c.send(f);
      sig.sent++;
    }
    const want = batch.length + (authenticated ? 1 : 0);
    const close = await c.finish(want, 10_000);
    sig.replies += c.replies;
    sig.internal.push(...c.internal);
    sig.closes.set(close, (sig.closes.get(close) ?? 0) + 1);
  }
  check(
    "signaling: 0 internal errors for generated frames",
    sig.internal.length === 0 && sig.sent > 0,
    `${sig.sent} frames on ${sig.connections} connections, ${sig.replies} replies; internal: ${sig.internal.length} ${sig.internal.slice(0, 2).join("; ")}`,
  );
  note(`signaling close codes seen: ${[...sig.closes].map(([c, n]) => `${c}×${n}`).join(", ")}`);
  check(
    "signaling: every generated input was sent",
    sig.sent === o.signalInputs,
    `${sig.sent}/${o.signalInputs} (connections closed by a refused join stop their batch)`,
  );

  // ---- still serving ----
  check("media node process still running", node.running, `pid ${node.pid} running=${node.running}`);
  let after = "no join";
  try {
    const r = await cluster.join({ room: "after-fuzz", identity: "after" });
    const c = await SignalClient.open(r.url, r.token);
    const joined = await c.request("join", {}, 10_000);
    const t = await c.request("createTransport", { direction: "recv" }, 10_000);
    after = `joined ${joined.room} on ${joined.node.id}, transport ${t.transportId.slice(0, 8)}`;
    c.close();
  } catch (e) {
    after = `failed: ${(e as Error).message}`;
  }
  check("Worker and node serve a valid join after the fuzz", after.startsWith("joined"), after);
  await cluster.stop();
  return result();
}

/** Valid tokens with one character changed, cut short, or with a part swapped for another's. */
function tokenMutation(tokens: string[]): fc.Arbitrary<string> {
  return fc.tuple(fc.constantFrom(...tokens), fc.nat(), fc.constantFrom("flip", "cut", "swap")).map(([t, n, how]) => {
    if (how === "cut") return t.slice(0, n % t.length);
    if (how === "swap") {
      const parts = t.split(".");
      const other = tokens[n % tokens.length]!.split(".");
      parts[n % 3] = other[n % 3]!;
      return parts.join(".");
    }
    const i = n % t.length;
    return t.slice(0, i) + (t[i] === "A" ? "B" : "A") + t.slice(i + 1);
  });
}

/** Bodies shaped like real requests, with wrong or hostile values. */
function requestLike(): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(
    {
      direction: fc.oneof(fc.constantFrom("send", "recv"), fc.string()),
      transportId: fc.oneof(fc.uuid(), fc.string({ maxLength: 200 })),
      trackId: fc.oneof(fc.uuid(), fc.string({ maxLength: 200 })),
      consumerId: fc.uuid(),
      kind: fc.oneof(fc.constantFrom("audio", "video"), fc.string()),
      rtpParameters: fc.anything(),
      rtpCapabilities: fc.oneof(
        fc.anything(),
        fc.record({
          codecs: fc.array(
            fc.record({ kind: fc.constantFrom("audio", "video"), mimeType: fc.string(), clockRate: fc.integer() }),
          ),
        }),
      ),
      dtlsParameters: fc.oneof(
        fc.anything(),
        fc.record({
          fingerprints: fc.array(fc.record({ algorithm: fc.constant("sha-256"), value: fc.string() }), {
            minLength: 1,
            maxLength: 2,
          }),
        }),
      ),
      sctpStreamParameters: fc.anything(),
      enableSctp: fc.anything(),
      numSctpStreams: fc.anything(),
      token: fc.string(),
      room: fc.string(),
    },
    { requiredKeys: [] },
  );
}

/** A bare WebSocket that counts the node's replies (responses and error notifications) and
 * remembers every `internal` error. */
class RawSocket {
  private readonly ws: WebSocket;
  replies = 0;
  readonly internal: string[] = [];
  private closeCode: number | undefined;
  private waiter: (() => void) | undefined;
  private target = Infinity;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener("message", (ev) => {
      let m: { id?: unknown; ok?: boolean; error?: { code?: string }; notification?: string; data?: { code?: string } };
      try {
        m = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      const code = m.ok === false ? m.error?.code : m.notification === "error" ? m.data?.code : undefined;
      if (m.id !== undefined || m.notification === "error") this.replies++;
      if (code === ErrorCode.Internal) this.internal.push(String(ev.data).slice(0, 200));
      if (this.replies >= this.target) this.waiter?.();
    });
    ws.addEventListener("close", (ev) => {
      this.closeCode = ev.code;
      this.waiter?.();
    });
  }

  static open(url: string): Promise<RawSocket> {
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.addEventListener("open", () => resolve(new RawSocket(ws)), { once: true });
      ws.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), { once: true });
    });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: string): void {
    this.ws.send(frame);
  }

  /** Waits (bounded) for `replies` replies or the node closing the socket. */
  async waitReplies(replies: number, timeoutMs: number): Promise<void> {
    if (this.replies >= replies || this.closeCode !== undefined) return;
    this.target = replies;
    await Promise.race([new Promise<void>((r) => (this.waiter = r)), new Promise((r) => setTimeout(r, timeoutMs))]);
    this.target = Infinity;
  }

  /** Waits (bounded) for `replies` replies or the node closing the socket, then closes it;
   * resolves with the close code (the node's, when it closed first). */
  async finish(replies: number, timeoutMs: number): Promise<number> {
    if (this.replies < replies && this.closeCode === undefined) {
      this.target = replies;
      await Promise.race([new Promise<void>((r) => (this.waiter = r)), new Promise((r) => setTimeout(r, timeoutMs))]);
    }
    if (this.closeCode !== undefined) return this.closeCode;
    const closed = new Promise<void>((r) => (this.waiter = r));
    this.ws.close(1000);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2_000))]);
    return this.closeCode ?? -1;
  }
}
