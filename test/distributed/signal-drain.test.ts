// SIGTERM on a signal node (media-node.ts drain, signaling-server.ts handOffRelayed): clients relayed
// through it hold their media on the hosting node, so the node tells them to reconnect at once —
// the same `reconnect` notification a hosting node sends at its drain deadline — and closes their
// sockets with the drain close code. A browser client rejoins through the control plane by itself,
// lands on a live signal node and decodes video again. While the node still drains (a room of its
// own), new relayed joins are refused with the same code; it exits 0 and leaves nothing in Redis.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CloseCode, type NotificationName } from "#shared/protocol.ts";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { waitFor } from "../support/media-node.ts";
import { callStatus, joinCall, startCall, stopCall, type Participant } from "./call.ts";
import {
  EAST_A,
  EAST_B,
  PORTLAND,
  WASHINGTON,
  WEST,
  dumpRedisWith,
  metric,
  participantsOf,
  type Cluster,
} from "./cluster.ts";

const ROOM = "signal-drain-call";
let c: Cluster;
let browser: Browser;

beforeAll(async () => void ({ c, browser } = await startCall()), 90_000);
afterAll(() => stopCall(c, browser));

describe("signal node drain", () => {
  it("relayed clients get reconnect + the drain close code at once, rejoin through a live signal node and decode video again; the node exits 0", async () => {
    let a: Participant | undefined;
    let b: Participant | undefined;
    const context = () =>
      [`A:`, ...(a?.console.slice(-10) ?? []), `B:`, ...(b?.console.slice(-10) ?? []), c.logs()].join("\n");
    const flowing = (p: Participant, what: string, ok: (s: Awaited<ReturnType<typeof callStatus>>) => boolean) =>
      waitFor(
        () => callStatus(p),
        (s) => s.flows && ok(s),
        `${p.identity} ${what}`,
        45_000,
      ).catch((e) => {
        throw new Error(`${e}\n${context()}`);
      });

    b = await joinCall(c, browser, "bob", ROOM, WASHINGTON);
    const host = (await callStatus(b)).node!; // joined, alone in the room: nothing to decode yet
    a = await joinCall(c, browser, "alice", ROOM, PORTLAND);
    await flowing(a, "decodes bob", (s) => s.node === host);
    await flowing(b, "decodes alice", () => true);
    expect([EAST_A, EAST_B]).toContain(host);
    expect((await participantsOf(c.ioredis, ROOM)).alice?.signalNode).toBe(WEST); // A is relayed through WEST

    // A protocol-level client relayed through WEST too, to see exactly what it is sent.
    const carol = await c.join({ identity: "carol", room: ROOM, location: PORTLAND });
    expect(carol.url).toBe(c.node(WEST).signalUrl);
    const probe = await SignalClient.open(carol.url, carol.token);
    const notes: { name: NotificationName; data: unknown }[] = [];
    probe.onNotification((name, data) => notes.push({ name, data }));
    await probe.request("join", {});
    expect(await metric(c.node(WEST), "meridian_bridge_sessions_open")).toBe(2);

    // WEST also hosts a room of its own, so its drain lasts until that room ends.
    const d = await c.join({ identity: "dave", room: "west-room", location: PORTLAND });
    expect(d.node).toBe(WEST);
    const dave = await SignalClient.open(d.url, d.token);
    await dave.request("join", {});
    const erin = await c.join({ identity: "erin", room: ROOM, location: PORTLAND }); // minted before the drain

    const before = await callStatus(a);
    const signalledAt = Date.now();
    c.node(WEST).signal("SIGTERM");
    const closed = await probe.closed;
    expect(closed.code).toBe(CloseCode.Draining);
    expect(notes.filter((n) => n.name === "reconnect").map((n) => n.data)).toEqual([{ reason: "draining" }]);
    // Still draining (dave's room): a new relayed join is refused the same way, not relayed.
    expect(c.node(WEST).running).toBe(true);
    const late = await SignalClient.open(erin.url, erin.token);
    await expect(late.request("join", {})).rejects.toMatchObject({ code: "node_draining" });
    expect((await late.closed).code).toBe(CloseCode.Draining);
    expect((await dave.request("ping", {})).now).toBeGreaterThan(0); // its own room is served on
    // Its room ends (deleted through the API: an emptied room would wait for its empty timeout).
    const admin = await c.adminToken(60, { roomCreate: true });
    expect(
      (await c.workerFetch("/v1/rooms/west-room", { method: "DELETE", headers: { authorization: `Bearer ${admin}` } }))
        .status,
    ).toBe(200);
    expect((await dave.closed).code).toBe(CloseCode.RoomClosed);
    expect(await c.node(WEST).exited).toEqual({ code: 0, signal: null });

    // A followed the notification: a new client, on the same host, signalling through a live node.
    const after = await flowing(
      a,
      "back with media through a live signal node",
      (s) => s.moves > before.moves && s.node === host,
    );
    const backMs = Date.now() - signalledAt;
    const rejoin = a.rejoins.at(-1)!;
    expect(rejoin.url).not.toBe(c.node(WEST).signalUrl);
    expect(after.frames).toBeGreaterThan(0);
    await flowing(b, "still decodes alice", () => true);
    const ps = await waitFor(
      () => participantsOf(c.ioredis, ROOM),
      (p) => p.alice !== undefined && p.alice.signalNode !== WEST && p.carol === undefined,
      "alice re-signalled, carol gone",
    );
    expect([EAST_A, EAST_B]).toContain(ps.alice!.signalNode);
    await waitFor(
      () => metric(c.node(host), "meridian_bridge_sessions_open"),
      (n) => n === (ps.alice!.signalNode === host ? 0 : 1),
      "host holds only live bridged sessions",
    );
    expect(
      await waitFor(
        () => dumpRedisWith(c.ioredis, WEST),
        (k) => k.length === 0,
        `no Redis keys mentioning ${WEST}`,
      ),
    ).toEqual([]);
    console.log(
      `[signal-drain] SIGTERM → A decoding video again ≤ ${backMs} ms (measured after WEST's exit); A rejoined via ${ps.alice!.signalNode}; room stayed on ${host}; rejoin calls ${a.rejoins.length}`,
    );
  });
});
