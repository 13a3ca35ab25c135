// Webhooks in LiveKit's format from a real media node (configured as LiveKit's `webhook:
// {api_key, urls}` in the deploy config file, MERIDIAN_CONFIG) to a local HTTP receiver, each validated by
// livekit-server-sdk's WebhookReceiver: a participant joins, publishes, leaves, the room ends.
// The receiver fails the first delivery twice (500, 500) and gets it again after LiveKit's
// backoff (1 s, 2 s); the events still arrive in order. The queue bound drops and counts.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebhookEvent } from "@livekit/protocol";
import { TrackType, WebhookReceiver } from "livekit-server-sdk";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { WebhookNotifier } from "../../media-node/src/webhooks/notifier.ts";
import { API_KEY, API_SECRET, MediaNodeProcess, mediaToken, waitFor } from "../support/media-node.ts";
import { metric } from "../distributed/cluster.ts";

interface Delivery {
  at: number;
  body: string;
  auth: string;
  type: string;
  status: number;
}

/** A webhook endpoint: records every request; answers `plan[i]` to the i-th (then 200). */
async function receiver(plan: number[] = []): Promise<{ server: Server; url: string; got: Delivery[] }> {
  const got: Delivery[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const status = plan[got.length] ?? 200;
      got.push({
        at: Date.now(),
        body: Buffer.concat(chunks).toString("utf8"),
        auth: req.headers.authorization ?? "",
        type: req.headers["content-type"] ?? "",
        status,
      });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

describe("webhooks", () => {
  let hook: Awaited<ReturnType<typeof receiver>>;
  let node: MediaNodeProcess;

  beforeAll(async () => {
    hook = await receiver([500, 500]);
    const dir = mkdtempSync(join(tmpdir(), "meridian-webhook-"));
    const config = join(dir, "meridian.yaml");
    writeFileSync(config, `webhook:\n  api_key: ${API_KEY}\n  urls:\n    - ${hook.url}\n`);
    node = await MediaNodeProcess.start({ env: { MERIDIAN_CONFIG: config, EMPTY_ROOM_TIMEOUT_MS: "300" } });
  }, 30_000);
  afterAll(async () => {
    await node?.stop();
    hook?.server.close();
  });

  it("sends room, participant and track events as LiveKit does, in order, retrying a failing receiver with backoff", async () => {
    const alice = await SignalClient.open(node.signalUrl, await mediaToken("alice", "wh-room"));
    await alice.request("join", {});
    const send = await alice.request("createTransport", { direction: "send" });
    const opus = {
      codecs: [{ mimeType: "audio/opus", payloadType: 100, clockRate: 48000, channels: 2 }],
      encodings: [{ ssrc: 1111 }],
    };
    const { trackId } = await alice.request("produce", {
      transportId: send.transportId,
      kind: "audio",
      rtpParameters: opus,
    });
    alice.close();

    const receiverSdk = new WebhookReceiver(API_KEY, API_SECRET);
    const delivered = await waitFor(
      async () => hook.got.filter((d) => d.status === 200),
      (ds) => ds.some((d) => d.body.includes('"room_finished"')),
      "room_finished delivered",
      30_000,
    );
    const events: WebhookEvent[] = [];
    for (const d of hook.got) {
      expect(d.type).toBe("application/webhook+json");
      expect(d.auth).not.toMatch(/^Bearer/i);
      events.push(await receiverSdk.receive(d.body, d.auth)); // throws unless signature and sha256 match
    }
    expect(delivered.map((d) => JSON.parse(d.body).event)).toEqual([
      "room_started",
      "participant_joined",
      "track_published",
      "track_unpublished",
      "participant_left",
      "room_finished",
    ]);
    // 500, 500, then 200: the same event (same id) three times, 1 s then 2 s apart.
    const first = hook.got.slice(0, 3);
    expect(first.map((d) => d.status)).toEqual([500, 500, 200]);
    expect(new Set(first.map((d) => d.body)).size).toBe(1);
    expect(first[1]!.at - first[0]!.at).toBeGreaterThanOrEqual(900);
    expect(first[2]!.at - first[1]!.at).toBeGreaterThanOrEqual(1900);

    const byName = new Map(events.map((e) => [e.event, e]));
    expect(new Set(events.map((e) => e.id)).size).toBe(6);
    for (const e of events) {
      expect(e.id).toMatch(/^EV_[A-Za-z0-9_-]{12}$/);
      expect(e.room).toMatchObject({ name: "wh-room" });
      expect(e.room!.sid).toMatch(/^RM_/);
      expect(Math.abs(Number(e.createdAt) - Date.now() / 1000)).toBeLessThan(60);
    }
    expect(byName.get("participant_joined")!.participant).toMatchObject({ identity: "alice" });
    expect(byName.get("track_published")!.track).toMatchObject({
      sid: trackId,
      type: TrackType.AUDIO,
      mimeType: "audio/opus",
    });
    expect(byName.get("track_unpublished")!.track!.sid).toBe(trackId);
    expect(byName.get("participant_left")!.participant!.identity).toBe("alice");

    // A tampered body fails the SDK's validation.
    const d = delivered[1]!;
    await expect(receiverSdk.receive(d.body.replace("alice", "mallet"), d.auth)).rejects.toThrow();
    await expect(receiverSdk.receive(d.body, `Bearer ${d.auth}`)).rejects.toThrow();

    expect(await metric(node, 'meridian_webhooks_total{result="retried"}')).toBe(2);
    expect(await metric(node, 'meridian_webhooks_total{result="sent"}')).toBe(6);
  });

  it("drops (and counts) what exceeds the queue bound instead of waiting for a stuck receiver", async () => {
    const stuck = createServer(() => undefined); // never answers
    await new Promise<void>((r) => stuck.listen(0, "127.0.0.1", r));
    const dropped: string[] = [];
    const n = new WebhookNotifier({
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      urls: [`http://127.0.0.1:${(stuck.address() as AddressInfo).port}/`],
      counters: { sent: () => undefined, retried: () => undefined, dropped: (r) => dropped.push(r) },
      log: pino({ level: "silent" }),
      maxPerLane: 2,
    });
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) n.send("stuck-room", new WebhookEvent({ event: "room_started", id: `EV_${i}` }));
    expect(performance.now() - t0).toBeLessThan(50); // send() never waits for delivery
    expect(dropped).toEqual(["queue_full", "queue_full", "queue_full"]);
    expect(n.pending).toBe(2);
    await n.close(0);
    stuck.closeAllConnections();
    stuck.close();
  });
});
