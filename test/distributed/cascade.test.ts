// Rooms that span nodes (issue 9), end to end: the local cluster (real Worker, Redis, 3 media nodes
// in us-west-2 and us-east) with cascade on, headless Chromium participants joining like an app
// (POST /v1/join from a location). A joins from Portland: its media is on the us-west-2 node (an
// edge); B and C join from Washington: their media is on the us-east origin. Everyone decodes
// everyone; the nodes' /metrics show each track crossing the west↔east pipe once, however many
// subscribers the far node has, and the room listing the dashboard reads shows both nodes with
// their participants and pipes. Then the origin is SIGKILLed: one node takes the origin role
// (atomically, in Redis), B and C rejoin through the control plane and everyone decodes everyone
// again. Then the west node is SIGKILLed: B and C keep decoding each other throughout, A rejoins.
// A cascade link from a node that does not serve the room is refused and counted. Durations are
// printed, never asserted.
import { isDeepStrictEqual } from "node:util";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keys } from "../../shared/keys.ts";
import { BusAuth } from "../../media-node/src/cluster/bus-auth.ts";
import { launchChromium } from "../support/browser.ts";
import { waitFor } from "../support/media-node.ts";
import { callStatus, joinCall, stopCall, type PageGlobals, type Participant } from "./call.ts";
import { allNewFrames, logEvents, timelineOf, watchNewFrames } from "./timeline.ts";
import {
  EAST_A,
  EAST_B,
  PORTLAND,
  WASHINGTON,
  WEST,
  dumpRedisWith,
  metric,
  participantsOf,
  startDistributedCluster,
  type Cluster,
} from "./cluster.ts";

const ROOM = "cascade-call";
let c: Cluster;
let browser: Browser;
const people = new Map<string, Participant>();
let origin: string;

beforeAll(async () => {
  [c, browser] = await Promise.all([startDistributedCluster({}, { cascade: { enabled: true } }), launchChromium()]);
}, 90_000);
afterAll(() => stopCall(c, browser));

function context(): string {
  return [...[...people.values()].flatMap((p) => [`${p.identity} console:`, ...p.console.slice(-8)]), c.logs(30)].join(
    "\n",
  );
}

/** Video frames decoded from each remote participant, as one number per page (the sum). */
async function everyoneDecodes(ids: string[], what: string): Promise<void> {
  for (const id of ids) {
    await waitFor(
      () => callStatus(people.get(id)!),
      (s) => s.flows && s.videoTracks >= ids.length - 1,
      `${id} decodes ${what}`,
      45_000,
    ).catch((e) => {
      throw new Error(`${e}\n${context()}`);
    });
  }
}

/** The room's participant records in Redis are exactly the live sessions (each page's participant
 * sid), none left by the dead node, none missing: each serving node wrote its own again. */
async function recordsMatchSessions(dead: string): Promise<void> {
  const sids = async () =>
    Object.fromEntries(
      await Promise.all(
        [...people.values()].map(
          async (p) =>
            [
              p.identity,
              await p.page.evaluate(
                () => (globalThis as unknown as PageGlobals).meridian.client?.joined.participant.sid,
              ),
            ] as const,
        ),
      ),
    );
  const pairs = (m: Record<string, string | undefined>) =>
    Object.entries(m)
      .map(([id, sid]) => `${id}=${sid}`)
      .sort()
      .join(" ");
  await waitFor(
    async () => ({ records: await participantsOf(c.ioredis, ROOM), live: await sids() }),
    ({ records, live }) =>
      pairs(Object.fromEntries(Object.entries(records).map(([id, r]) => [id, r.sid]))) === pairs(live),
    "participant records = the live sessions",
    15_000,
  ).catch(async (e) => {
    throw new Error(
      `${e}\nrecords: ${JSON.stringify(await participantsOf(c.ioredis, ROOM))}\nlive: ${JSON.stringify(await sids())}\n${context()}`,
    );
  });
  // The sweep of the dead node's own keys follows its record's expiry.
  const left = await waitFor(
    () => dumpRedisWith(c.ioredis, dead),
    (k) => k.length === 0,
    `no Redis key names the dead ${dead}`,
    15_000,
  ).catch(async (e) => {
    throw new Error(`${e}\n${(await dumpRedisWith(c.ioredis, dead)).join("\n")}`);
  });
  expect(left).toEqual([]);
}

/** A bridge envelope opening a cascade link to the room from node `from` (session id `s`). */
const linkOpen = (from: string, s: string) =>
  JSON.stringify({
    t: "bridge",
    v: 1,
    k: "open",
    s,
    f: from,
    r: "s",
    init: { assertion: JSON.stringify({ cascade: ROOM }), query: { cascade: ROOM } },
  });

const join = async (id: string, where: typeof PORTLAND) => people.set(id, await joinCall(c, browser, id, ROOM, where));

/** Where the time went since the kill: each page's timeline and the nodes' cascade log lines,
 * after every page decodes what it should on new tracks. */
async function printTimeline(what: string, killedAt: number, expected: Record<string, string[]>): Promise<void> {
  const wait = <T>(get: () => Promise<T>, ok: (v: T) => boolean, w: string) =>
    waitFor(get, ok, w, 30_000).catch((e) => {
      throw new Error(`${e}\n${context()}`);
    });
  const last = await allNewFrames(
    Object.entries(expected).map(([id, ids]) => [people.get(id)!, ids]),
    killedAt,
    wait,
  );
  const lines = await Promise.all([...people.values()].map(async (p) => (await timelineOf(p, killedAt)).line));
  const nodes = logEvents(c.nodes, "cascade", killedAt);
  console.log(
    `[cascade] ${what}: every page decodes video on new tracks ${last} ms after the kill (goal ≤ 4000)\n  ${[...lines, ...nodes].join("\n  ")}`,
  );
}

describe("cascade across nodes", { timeout: 240_000 }, () => {
  it("A's media is on the us-west-2 edge, B's and C's on the us-east origin; all decode each other; each track crosses the pipe once", async () => {
    await join("bob", WASHINGTON);
    origin = (await callStatus(people.get("bob")!)).node!;
    expect([EAST_A, EAST_B]).toContain(origin);
    await join("carol", WASHINGTON);
    await join("alice", PORTLAND);
    await everyoneDecodes(["alice", "bob", "carol"], "two others' video");
    expect((await callStatus(people.get("alice")!)).node).toBe(WEST);
    expect((await callStatus(people.get("carol")!)).node).toBe(origin);
    // The control plane named those media nodes at join and sent each client straight to its own.
    const alice = people.get("alice")!.first;
    expect(alice.media).toEqual({ node: WEST, region: "us-west-2", role: "edge" });
    expect(alice.url).toBe(c.node(WEST).signalUrl);
    expect(alice.node).toBe(origin);
    expect(people.get("carol")!.first.media).toEqual({ node: origin, region: "us-east", role: "origin" });
    expect(await c.ioredis.hget(keys.room(ROOM), "node")).toBe(origin);
    const nodes = await c.ioredis.hgetall(keys.roomNodes(ROOM));
    expect(Object.keys(nodes).sort()).toEqual([origin, WEST].sort());

    // A fourth participant on the edge subscribes to B and C too: their tracks still cross once.
    await join("dave", PORTLAND);
    await everyoneDecodes(["alice", "bob", "carol", "dave"], "three others' video");
    expect((await callStatus(people.get("dave")!)).node).toBe(WEST);
    const westIn = await metric(c.node(WEST), "meridian_cascade_piped_producers");
    const eastIn = await metric(c.node(origin), "meridian_cascade_piped_producers");
    expect(westIn, "B's and C's audio + video, once each, for both A and D").toBe(4);
    expect(eastIn, "A's and D's audio + video, once each, for both B and C").toBe(4);
    expect(await metric(c.node(WEST), "meridian_cascade_pipe_transports")).toBe(1);
    // What the dashboard shows (GET /v1/rooms/{name} → mediaNodes): each node's own figures.
    const admin = await c.adminToken();
    const want = [
      { node: origin, region: "us-east", participants: 2, pipes: 1, pipedIn: 4, role: "origin" },
      { node: WEST, region: "us-west-2", participants: 2, pipes: 1, pipedIn: 4, role: "edge" },
    ];
    await waitFor(
      async () =>
        (
          (await c.workerFetch(`/v1/rooms/${ROOM}`, { headers: { authorization: `Bearer ${admin}` } })).body as {
            mediaNodes?: unknown;
          }
        ).mediaNodes,
      (m) => isDeepStrictEqual(m, want),
      "the room's nodes with their participants and pipes in the room listing",
    );
    console.log(
      `[cascade] origin ${origin}, edge ${WEST}: piped producers west ${westIn}, east ${eastIn}; ` +
        `pipe bytes west→east ${await metric(c.node(WEST), `meridian_cascade_pipe_bytes{peer="${origin}",direction="sent"}`)}`,
    );
    await people.get("dave")!.page.close();
    people.delete("dave");
  });

  it("a cascade link from a node that does not serve the room is refused and counted; unsigned ones are dropped; the origin keeps serving", async () => {
    // Authentic on the bus (signed with the cluster's key, as a compromised or confused node could),
    // but the sender is no serving node of the room in Redis.
    const evil = new BusAuth(new Map([[c.apiKey, c.apiSecret]]), "node-evil");
    const open = (s: string) => linkOpen("node-evil", s);
    await c.ioredis.publish(keys.nodeBus(origin), evil.seal(keys.nodeBus(origin), open(crypto.randomUUID())));
    await c.ioredis.publish(keys.nodeBus(origin), open(crypto.randomUUID())); // unsigned
    await c.ioredis.publish(keys.nodeBus(origin), "{not json");
    await waitFor(
      () => metric(c.node(origin), "meridian_cascade_links_refused"),
      (n) => n >= 1,
      "link from a non-serving node refused",
    );
    // The log line comes from the child's stdout, which may arrive after the counter is scraped.
    await waitFor(
      async () =>
        c.node(origin).logs.some((l) => l.includes("cascade: link refused") && l.includes("does not serve the room")),
      (seen) => seen,
      "the refusal logged with its reason",
    );
    expect((await fetch(`${c.node(origin).httpUrl}/healthz`)).status).toBe(200);
    expect((await callStatus(people.get("bob")!)).flows).toBe(true);
  });

  it("a link whose peer never answers: its pipe transport times out, is closed and counted; the origin keeps serving", async () => {
    // Listed as serving the room and signed with the cluster's key, so the origin accepts the link
    // and makes its pipe; then the peer never says a word (no hello, no heartbeat).
    const ghost = "node-ghost";
    const pipes = () => metric(c.node(origin), "meridian_cascade_pipe_transports");
    const before = await pipes();
    await c.ioredis.hset(keys.roomNodes(ROOM), ghost, JSON.stringify({ region: "us-west-2", participants: 0 }));
    const auth = new BusAuth(new Map([[c.apiKey, c.apiSecret]]), ghost);
    await c.ioredis.publish(
      keys.nodeBus(origin),
      auth.seal(keys.nodeBus(origin), linkOpen(ghost, crypto.randomUUID())),
    );
    await waitFor(pipes, (n) => n === before + 1, "the ghost link's pipe transport made");
    await waitFor(
      () => metric(c.node(origin), "meridian_cascade_pipes_unanswered"),
      (n) => n === 1,
      "the unanswered pipe closed and counted",
      20_000,
    );
    expect(await pipes(), "the pipe transport is gone").toBe(before);
    await c.ioredis.hdel(keys.roomNodes(ROOM), ghost);
    expect((await fetch(`${c.node(origin).httpUrl}/healthz`)).status).toBe(200);
    expect((await callStatus(people.get("bob")!)).flows).toBe(true);
  });

  it("SIGKILL the origin: one node takes the origin role, B and C rejoin, everyone decodes everyone again", async () => {
    await watchNewFrames([...people.values()]);
    const killedAt = Date.now();
    c.node(origin).signal("SIGKILL");
    await c.node(origin).exited;
    // Frames already in flight keep the counters moving for a moment: first wait until B and C have
    // left the dead origin and Redis names a new one, then require everyone to decode.
    await waitFor(
      () => Promise.all(["bob", "carol"].map((id) => callStatus(people.get(id)!))),
      (ss) => ss.every((s) => s.node !== undefined && s.node !== origin),
      "bob and carol off the dead origin",
      60_000,
    ).catch((e) => {
      throw new Error(`${e}\n${context()}`);
    });
    const now = await waitFor(
      () => c.ioredis.hget(keys.room(ROOM), "node"),
      (n) => n !== null && n !== origin,
      "a new origin in Redis",
      30_000,
    );
    await everyoneDecodes(["alice", "bob", "carol"], "the others again");
    const ms = Date.now() - killedAt;
    expect([WEST, EAST_A, EAST_B].filter((n) => n !== origin)).toContain(now);
    console.log(`[cascade] origin ${origin} killed → new origin ${now}; everyone decoding again after ${ms} ms`);
    await printTimeline("origin kill", killedAt, {
      alice: ["bob", "carol"],
      bob: ["alice", "carol"],
      carol: ["alice", "bob"],
    });
    await recordsMatchSessions(origin);
    origin = now!;
  });

  it("SIGKILL the west edge: B and C keep decoding each other throughout; A rejoins and decodes B and C", async () => {
    // The origin's death made the node with most participants (B's and C's) the origin: west is an edge.
    expect(await c.ioredis.hget(keys.room(ROOM), "node")).not.toBe(WEST);
    const b = people.get("bob")!;
    const cc = people.get("carol")!;
    const before = await Promise.all([callStatus(b), callStatus(cc)]);
    await watchNewFrames([...people.values()]);
    const killedAt = Date.now();
    c.node(WEST).signal("SIGKILL");
    await c.node(WEST).exited;
    await new Promise((r) => setTimeout(r, 3_000));
    const mid = await Promise.all([callStatus(b), callStatus(cc)]);
    for (const i of [0, 1]) expect(mid[i]!.frames, "B and C keep decoding").toBeGreaterThan(before[i]!.frames);
    await waitFor(
      () => callStatus(people.get("alice")!),
      (s) => s.node !== WEST && s.flows,
      "alice back with media",
      60_000,
    ).catch((e) => {
      throw new Error(`${e}\n${context()}`);
    });
    console.log(`[cascade] west killed → alice decoding again after ${Date.now() - killedAt} ms`);
    await printTimeline("west kill", killedAt, { alice: ["bob", "carol"], bob: ["alice"], carol: ["alice"] });
    await recordsMatchSessions(WEST);
  });
});
