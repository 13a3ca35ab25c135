// Issue 12 finding 15 on a real media node (standalone child process, real mediasoup): a session's
// maximum age, and tokens outside URLs (Authorization header on the upgrade, `join` body).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { CloseCode, encodeRequest, type NotificationName } from "#shared/protocol.ts";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { MediaNodeProcess, mediasoupWorkerAvailable } from "../support/media-node.ts";

const AGE_MS = 1_500;
let node: MediaNodeProcess;

beforeAll(async () => {
  node = await MediaNodeProcess.start({ env: { MAX_SESSION_AGE_MS: String(AGE_MS) } });
});
afterAll(async () => {
  await node?.stop();
});

describe.runIf(mediasoupWorkerAvailable())("sessions", () => {
  it("a session ends at max_session_age_ms: reconnect{session_expired}, then close 4440", async () => {
    const c = await SignalClient.open(node.signalUrl, await node.token("aging", "room-age"));
    const notes: { name: NotificationName; data: unknown }[] = [];
    c.onNotification((name, data) => notes.push({ name, data }));
    const joinedAt = Date.now();
    await c.request("join", {});
    const closed = await Promise.race([c.closed, new Promise<undefined>((r) => setTimeout(r, AGE_MS + 10_000))]);
    expect(closed?.code).toBe(CloseCode.SessionExpired);
    expect(Date.now() - joinedAt).toBeGreaterThanOrEqual(AGE_MS - 50);
    expect(notes).toContainEqual({ name: "reconnect", data: { reason: "session_expired" } });
  });

  it("takes the token from an Authorization header on the upgrade (no token in the URL or join)", async () => {
    const ws = new WebSocket(node.signalUrl, {
      headers: { authorization: `Bearer ${await node.token("header", "room-header")}` },
    });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const reply = new Promise<{ ok: boolean; data?: { room: string } }>((resolve) =>
      ws.once("message", (m) => resolve(JSON.parse(String(m)))),
    );
    ws.send(encodeRequest(1, "join", {}));
    expect(await reply).toMatchObject({ ok: true, data: { room: "room-header" } });
    ws.close();
  });
});
