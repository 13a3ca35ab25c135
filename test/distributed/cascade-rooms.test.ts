// A room that spans nodes behaves as one room beyond media (issue 9): data channels and RoomService.
// The local cluster (real Worker, Redis, media nodes) with cascade on and three regions, one node
// each: participants from Washington have their media on the us-east origin, from Portland on the
// us-west-2 edge, from Dublin on the eu-west edge — so the origin relays edge to edge.
//
// Data: headless Chromium participants (data only) publish a reliable and a lossy channel; every
// other participant receives each message once, with the sender's identity and the channel's
// reliability, and the nodes' /metrics show each message crossing each node pair once.
// RoomService: livekit-server-sdk's RoomServiceClient, unchanged, lists, updates, mutes,
// unsubscribes and removes participants whose media is on an edge; the participant itself, the
// others (on the origin and on the other edge) and Redis see the effect; errors are those of a
// participant on the origin.
import type { Redis } from "ioredis";
import { DataPacket_Kind, RoomServiceClient, ServerError } from "livekit-server-sdk";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Region } from "#shared/config.ts";
import { CloseCode, type NotificationName } from "#shared/protocol.ts";
import { mintToken } from "#shared/token.ts";
import { startCluster, type LocalCluster } from "../../infra/local/cluster.ts";
import type { MediaNodeChild } from "../../infra/local/media-node.ts";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { launchChromium } from "../support/browser.ts";
import { waitFor } from "../support/media-node.ts";
import { joinCall, stopCall, type PageGlobals, type Participant } from "./call.ts";
import { PORTLAND, REGIONS, WASHINGTON, participantsOf, type Where } from "./cluster.ts";

const DUBLIN = { lat: 53.35, lon: -6.26 };
const ORIGIN = "node-east-o";
const WEST = "node-west-e";
const EU = "node-eu-e";
const CLUSTER_REGIONS: Region[] = [...REGIONS, { name: "eu-west", lat: 53.35, lon: -6.26 }];
const HOME: Record<string, { where: Where; node: string }> = {
  bob: { where: WASHINGTON, node: ORIGIN },
  alice: { where: PORTLAND, node: WEST },
  erin: { where: DUBLIN, node: EU },
};

let c: LocalCluster;
let browser: Browser;
let svc: RoomServiceClient;
let redis: Redis;

beforeAll(async () => {
  [c, browser] = await Promise.all([
    startCluster({
      regions: CLUSTER_REGIONS,
      defaultRegion: "us-east",
      cascade: { enabled: true },
      nodes: [
        { nodeId: ORIGIN, region: "us-east" },
        { nodeId: WEST, region: "us-west-2" },
        { nodeId: EU, region: "eu-west" },
      ],
    }),
    launchChromium(),
  ]);
  svc = new RoomServiceClient(c.workerUrl, c.apiKey, c.apiSecret);
  redis = c.redis!.client();
}, 90_000);
afterAll(async () => {
  redis?.disconnect();
  await stopCall(c, browser);
});

/** What a page received on other participants' data channels and from the server. */
interface Received {
  data: { identity: string; label: string; reliable: boolean; text: string }[];
  server: { topic: string | undefined; text: string }[];
  sent: number;
}
type DataPage = PageGlobals & {
  channels: Record<string, { send(m: string): void }>;
  received: Received;
};

/** Metric lines of a node's /metrics, by full name with labels. */
async function metrics(node: MediaNodeChild): Promise<Map<string, number>> {
  const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
  return new Map(
    text
      .split("\n")
      .filter((l) => l.startsWith("meridian_"))
      .map((l) => [l.slice(0, l.lastIndexOf(" ")), Number(l.slice(l.lastIndexOf(" ") + 1))]),
  );
}
const dataSent = (m: Map<string, number>, peer: string) =>
  m.get(`meridian_cascade_data_messages{peer="${peer}",direction="sent"}`) ?? 0;

describe("data channels across nodes", { timeout: 180_000 }, () => {
  const ROOM = "cascade-data";
  const people = new Map<string, Participant>();

  const received = (id: string): Promise<Received> =>
    people.get(id)!.page.evaluate(() => (globalThis as unknown as DataPage).received);
  const send = (id: string, label: string, texts: string[]) =>
    people.get(id)!.page.evaluate(
      ({ label, texts }) => {
        const g = globalThis as unknown as DataPage;
        for (const t of texts) g.channels[label]!.send(t);
        g.received.sent += texts.length;
      },
      { label, texts },
    );
  const context = () =>
    [...[...people.values()].flatMap((p) => [`${p.identity} console:`, ...p.console.slice(-8)]), c.logs(30)].join("\n");

  it("joins: the origin in us-east, edges in us-west-2 and eu-west; everyone opens a reliable and a lossy channel", async () => {
    for (const id of ["bob", "alice", "erin"]) {
      const p = await joinCall(c, browser, id, ROOM, HOME[id]!.where, { media: false });
      people.set(id, p);
      await p.page.evaluate(async () => {
        const g = globalThis as unknown as DataPage;
        const client = g.meridian.client!;
        g.received = { data: [], server: [], sent: 0 };
        client.on("data", ({ identity, label, reliable, data }) =>
          g.received.data.push({ identity, label, reliable, text: String(data) }),
        );
        client.on("serverData", ({ topic, payload }) =>
          g.received.server.push({ topic, text: new TextDecoder().decode(payload) }),
        );
        g.channels = {
          chat: await client.publishData("chat"),
          game: await client.publishData("game", { reliable: false }),
        };
      });
      const node = await p.page.evaluate(() => (globalThis as unknown as DataPage).meridian.client?.joined.node.id);
      expect(node, `${id}'s media node`).toBe(HOME[id]!.node);
    }
  });

  it("every participant gets every other's messages on both channels, with the sender's identity and the channel's reliability", async () => {
    // Subscriptions are made as tracks are announced: each sender repeats a hello on both channels
    // until everyone else heard it (a bounded number of rounds).
    const ids = [...people.keys()];
    const heardAll = async () => {
      const all = await Promise.all(ids.map(received));
      return ids.every((to, i) =>
        ids.every(
          (from) =>
            from === to ||
            ["chat", "game"].every((label) =>
              all[i]!.data.some((d) => d.identity === from && d.label === label && d.text === `hello from ${from}`),
            ),
        ),
      );
    };
    for (let round = 0; round < 60 && !(await heardAll()); round++) {
      for (const id of ids) for (const label of ["chat", "game"]) await send(id, label, [`hello from ${id}`]);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(await heardAll(), `every hello heard\n${context()}`).toBe(true);
    for (const to of ids) {
      for (const d of (await received(to)).data) {
        expect(d.identity, `${to} hears nothing of its own`).not.toBe(to);
        expect(d.reliable, `${to}: ${d.label} from ${d.identity}`).toBe(d.label === "chat");
      }
    }
  });

  it("a burst on the reliable channel arrives complete, in order and once at every other node's participants; each message crosses each node pair once", async () => {
    const N = 200;
    const before = new Map(
      await Promise.all([ORIGIN, WEST, EU].map(async (n) => [n, await metrics(c.node(n))] as const)),
    );
    const seen = new Map(
      await Promise.all([...people.keys()].map(async (id) => [id, (await received(id)).data.length] as const)),
    );
    const burst = (id: string) => Array.from({ length: N }, (_, i) => `${id} #${i} ${"x".repeat(i * 10)}`);
    for (const id of people.keys()) await send(id, "chat", burst(id));
    for (const to of people.keys()) {
      const got = await waitFor(
        async () => (await received(to)).data.slice(seen.get(to)).filter((d) => d.text.includes(" #")),
        (d) => d.length >= N * 2,
        `${to} gets both others' bursts`,
        60_000,
      ).catch((e) => {
        throw new Error(`${e}\n${context()}`);
      });
      for (const from of people.keys()) {
        if (from === to) continue;
        const texts = got.filter((d) => d.identity === from).map((d) => d.text);
        expect(texts, `${to} gets ${from}'s burst, in order, each message once`).toEqual(burst(from));
      }
      expect(got.length, `${to}: nothing more`).toBe(N * 2);
    }
    const after = new Map(
      await Promise.all([ORIGIN, WEST, EU].map(async (n) => [n, await metrics(c.node(n))] as const)),
    );
    const delta = (node: string, peer: string) => dataSent(after.get(node)!, peer) - dataSent(before.get(node)!, peer);
    // Alice's burst leaves the west edge once though bob (origin) and erin (eu edge) both get it;
    // the origin sends the eu edge alice's and bob's, once each.
    expect(delta(WEST, ORIGIN), "west → origin: alice's burst").toBe(N);
    expect(delta(EU, ORIGIN), "eu → origin: erin's burst").toBe(N);
    expect(delta(ORIGIN, WEST), "origin → west: bob's and erin's").toBe(2 * N);
    expect(delta(ORIGIN, EU), "origin → eu: bob's and alice's").toBe(2 * N);
    for (const n of [ORIGIN, WEST, EU])
      expect(after.get(n)!.get("meridian_cascade_data_messages_dropped"), `${n} dropped nothing`).toBe(0);
  });

  it("RoomService SendData reaches edge participants: to named identities only, or to everyone, with its topic", async () => {
    await svc.sendData(ROOM, new TextEncoder().encode("for erin"), DataPacket_Kind.RELIABLE, {
      topic: "news",
      destinationIdentities: ["erin"],
    });
    await svc.sendData(ROOM, new TextEncoder().encode("for all"), DataPacket_Kind.RELIABLE, { topic: "all" });
    for (const id of people.keys()) {
      const server = await waitFor(
        async () => (await received(id)).server,
        (s) => s.some((m) => m.text === "for all"),
        `${id} gets the message for everyone`,
      );
      // One ordered channel per participant: a message for it sent earlier would have come first.
      expect(server, id).toEqual(
        id === "erin"
          ? [
              { topic: "news", text: "for erin" },
              { topic: "all", text: "for all" },
            ]
          : [{ topic: "all", text: "for all" }],
      );
    }
  });
});

interface Peer {
  client: SignalClient;
  notes: { name: NotificationName; data: any }[];
  joined: any;
}

describe("RoomService on participants of other nodes", { timeout: 120_000 }, () => {
  const ROOM = "cascade-admin";
  const peers = new Map<string, Peer>();
  const opus = {
    codecs: [{ mimeType: "audio/opus", payloadType: 100, clockRate: 48000, channels: 2 }],
    encodings: [{ ssrc: 2222 }],
  };

  /** A participant speaking the signaling protocol (no media flows: the effects are signaled);
   * `hidden`: a recorder or agent (LiveKit's hidden grant), never announced to the others. */
  async function join(identity: string, where: Where, hidden = false, room = ROOM): Promise<Peer> {
    const r = hidden ? await joinHidden(identity, where) : await c.join({ identity, room, location: where });
    const client = await SignalClient.open(r.url, r.token);
    const notes: Peer["notes"] = [];
    client.onNotification((name, data) => notes.push({ name, data }));
    const p = { client, notes, joined: await client.request("join", {}) };
    peers.set(identity, p);
    return p;
  }
  async function joinHidden(identity: string, where: Where): Promise<{ url: string; token: string }> {
    const video = { roomJoin: true, room: ROOM, canSubscribe: true, hidden: true };
    const app = await mintToken({ apiKey: c.apiKey, apiSecret: c.apiSecret, identity, video, ttlSeconds: 300 });
    const r = await c.workerFetch(
      "/v1/join",
      { method: "POST", headers: { authorization: `Bearer ${app}`, "content-type": "application/json" }, body: "{}" },
      where,
    );
    expect(r.status).toBe(200);
    return r.body as { url: string; token: string };
  }
  const note = (id: string, name: NotificationName, match: (d: any) => boolean = () => true) =>
    waitFor(
      async () => peers.get(id)!.notes.find((n) => n.name === name && match(n.data)),
      Boolean,
      `${id}: ${name}`,
    ).then((n) => n!.data);
  async function twirpError(
    p: Promise<unknown>,
  ): Promise<{ code: string | undefined; status: number; message: string }> {
    const e = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(e).toBeInstanceOf(ServerError);
    const s = e as ServerError;
    return { code: s.code, status: s.status, message: s.message };
  }
  const recordOf = async (identity: string) => (await participantsOf(redis, ROOM))[identity];
  let danTrack: string;

  it("ListParticipants and GetParticipant list the edges' participants", async () => {
    for (const [id, where] of [
      ["carol", WASHINGTON],
      ["dan", PORTLAND],
      ["frank", DUBLIN],
    ] as const) {
      const p = await join(id, where);
      expect(p.joined.node.id, `${id}'s media node`).toBe({ carol: ORIGIN, dan: WEST, frank: EU }[id]);
    }
    const dan = peers.get("dan")!;
    const send = await dan.client.request("createTransport", { direction: "send" });
    danTrack = (
      await dan.client.request("produce", { transportId: send.transportId, kind: "audio", rtpParameters: opus })
    ).trackId;
    const listed = await waitFor(
      async () => (await svc.listParticipants(ROOM)).map((p) => p.identity).sort(),
      (ids) => ids.length === 3,
      "three participants listed",
    );
    expect(listed).toEqual(["carol", "dan", "frank"]);
    const got = await waitFor(
      () => svc.getParticipant(ROOM, "dan"),
      (p) => p.tracks.length === 1,
      "dan's track listed",
    );
    expect(got.identity).toBe("dan");
    expect(got.tracks[0]!.sid).toBe(danTrack);
  });

  it("UpdateParticipant on an edge participant: it, the origin's and the other edge's participants and Redis see the change", async () => {
    const r = await svc.updateParticipant(ROOM, "dan", {
      metadata: "m-dan",
      attributes: { role: "speaker" },
      name: "Dan",
    });
    expect(r).toMatchObject({ identity: "dan", metadata: "m-dan", name: "Dan", attributes: { role: "speaker" } });
    const own = await note("dan", "participantUpdated");
    expect(own.participant).toMatchObject({ identity: "dan", metadata: "m-dan" });
    expect(own.permissions).toBeDefined();
    for (const other of ["carol", "frank"]) {
      const seen = await note(other, "participantUpdated", (d) => d.participant.identity === "dan");
      expect(seen.participant, other).toMatchObject({
        metadata: "m-dan",
        name: "Dan",
        attributes: { role: "speaker" },
      });
    }
    expect(await recordOf("dan")).toMatchObject({ metadata: "m-dan", name: "Dan", attributes: { role: "speaker" } });
  });

  it("MutePublishedTrack on an edge participant's track: the publisher and everyone else are told, Redis shows it muted", async () => {
    const r = await svc.mutePublishedTrack(ROOM, "dan", danTrack, true);
    expect(r).toMatchObject({ sid: danTrack, muted: true });
    for (const id of ["dan", "carol", "frank"])
      expect(await note(id, "trackMuted", (d) => d.trackId === danTrack), id).toMatchObject({
        identity: "dan",
        muted: true,
      });
    expect((await recordOf("dan"))?.tracks[0]).toMatchObject({ sid: danTrack, muted: true });
  });

  it("UpdateSubscriptions on an edge participant: its consumer of a track from the other edge is closed, then offered again", async () => {
    const frank = peers.get("frank")!;
    await frank.client.request("setRtpCapabilities", { rtpCapabilities: frank.joined.routerRtpCapabilities });
    await frank.client.request("createTransport", { direction: "recv" });
    const consumer = await frank.client.request("consume", { trackId: danTrack });
    expect(consumer.identity).toBe("dan");
    await svc.updateSubscriptions(ROOM, "frank", [danTrack], false);
    expect(await note("frank", "consumerClosed", (d) => d.trackId === danTrack)).toMatchObject({
      consumerId: consumer.consumerId,
    });
    const offers = () =>
      frank.notes.filter((n) => n.name === "trackPublished" && n.data.track.trackId === danTrack).length;
    const before = offers();
    await svc.updateSubscriptions(ROOM, "frank", [danTrack], true);
    await waitFor(
      async () => offers(),
      (n) => n > before,
      "dan's track offered to frank again",
    );
  });

  it("UpdateRoomMetadata reaches the edges' participants", async () => {
    await svc.updateRoomMetadata(ROOM, "r-meta");
    for (const id of ["carol", "dan", "frank"])
      expect(await note(id, "roomUpdated"), id).toEqual({ metadata: "r-meta" });
  });

  it("a hidden participant on an edge (never announced to the other nodes) is reached too", async () => {
    const rec = await join("recorder", PORTLAND, true);
    expect(rec.joined.node.id).toBe(WEST);
    const r = await svc.updateParticipant(ROOM, "recorder", { metadata: "rec-meta" });
    expect(r).toMatchObject({ identity: "recorder", metadata: "rec-meta" });
    expect((await note("recorder", "participantUpdated")).participant).toMatchObject({ metadata: "rec-meta" });
    await svc.removeParticipant(ROOM, "recorder");
    expect((await rec.client.closed).code).toBe(CloseCode.Removed);
    for (const id of ["carol", "frank"])
      expect(
        peers.get(id)!.notes.filter((n) => JSON.stringify(n.data).includes("recorder")),
        `${id} never hears of the recorder`,
      ).toEqual([]);
    peers.delete("recorder");
  });

  it("an edge linking to a room whose participants do not fit one link message gets all of them (welcome in batches)", async () => {
    const BIG = "cascade-big";
    const metadata = (i: number) => `${i}`.repeat(60_000);
    for (const i of [1, 2, 3]) {
      expect((await join(`big${i}`, WASHINGTON, false, BIG)).joined.node.id).toBe(ORIGIN);
      await svc.updateParticipant(BIG, `big${i}`, { metadata: metadata(i) });
    }
    // The west node opens its share of the room now: its link's welcome lists ~180 KB of participants.
    const gina = await join("gina", PORTLAND, false, BIG);
    expect(gina.joined.node.id).toBe(WEST);
    const known = () =>
      new Map<string, string>(
        [
          ...gina.joined.participants,
          ...gina.notes.filter((n) => n.name === "participantJoined").map((n) => n.data.participant),
        ].map((p: { identity: string; metadata?: string }) => [p.identity, p.metadata ?? ""]),
      );
    await waitFor(
      async () => known().size,
      (n) => n >= 3,
      "gina knows the three origin participants",
    );
    for (const i of [1, 2, 3]) expect(known().get(`big${i}`) === metadata(i), `big${i} with its metadata`).toBe(true);
    for (const id of ["big1", "big2", "big3", "gina"]) {
      peers.get(id)!.client.close();
      peers.delete(id);
    }
  });

  it("errors on an edge participant are those on a participant of the origin", async () => {
    const onEdge = await twirpError(svc.mutePublishedTrack(ROOM, "dan", "TR_nope", true));
    const onOrigin = await twirpError(svc.mutePublishedTrack(ROOM, "carol", "TR_nope", true));
    expect(onEdge).toEqual({ ...onOrigin, message: onOrigin.message.replace("carol", "dan") });
    expect(onEdge).toMatchObject({ code: "not_found", status: 404 });
    expect(await twirpError(svc.removeParticipant(ROOM, "nobody"))).toMatchObject({ code: "not_found", status: 404 });
  });

  it("RemoveParticipant on an edge participant: it is told why and disconnected; the others see it leave; Redis forgets it", async () => {
    await svc.removeParticipant(ROOM, "dan");
    expect(await note("dan", "disconnected")).toEqual({ reason: "participant_removed" });
    expect((await peers.get("dan")!.client.closed).code).toBe(CloseCode.Removed);
    for (const id of ["carol", "frank"])
      expect((await note(id, "participantLeft", (d) => d.identity === "dan")).identity, id).toBe("dan");
    expect((await svc.listParticipants(ROOM)).map((p) => p.identity).sort()).toEqual(["carol", "frank"]);
    expect(await recordOf("dan")).toBeUndefined();
    expect(await twirpError(svc.removeParticipant(ROOM, "dan"))).toMatchObject({ code: "not_found", status: 404 });
    for (const p of peers.values()) p.client.close();
  });
});
