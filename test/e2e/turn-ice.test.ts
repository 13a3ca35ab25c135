// TURN and ICE restart end to end: a real coturn on loopback (time-limited credentials, the node
// configured with its secret), a real node, Chromium pages forced to relay-only. The node hands
// out TURN credentials in the join response; media flows through the relay; credentials that are
// wrong or expired surface as a client `iceError`; and when the relay goes away and comes back
// (the publisher's ICE fails while its WebSocket stays up) the client restarts ICE and media
// resumes in the same session.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import type { ClientEvents, MeridianClient } from "../../media-node/client/meridian-client.ts";
import { turnCredentials } from "../../media-node/src/signaling/turn.ts";
import { launchChromium, openPage } from "../support/browser.ts";
import { MediaNodeProcess, waitFor } from "../support/media-node.ts";
import { TurnServer } from "../support/turn.ts";

const ROOM = "turn-room";
let turn: TurnServer;
let node: MediaNodeProcess;
let browser: Browser;
let publisher: { page: Page; console: string[] };
let subscriber: { page: Page; console: string[] };

interface PageState {
  client?: MeridianClient;
  events: { name: keyof ClientEvents; at: number; data: unknown }[];
}

/** Connects a client on the page (relay-only) and records every event it emits. */
async function connect(
  page: Page,
  o: { url: string; token: string; publish: boolean; iceServers?: RTCIceServer[] },
): Promise<{ sid: string; iceServers: unknown }> {
  return page.evaluate(async (o) => {
    const g = globalThis as unknown as { MeridianClient: typeof MeridianClient; t: PageState };
    g.t = { events: [] };
    const client = await g.MeridianClient.connect({
      url: o.url,
      token: o.token,
      iceTransportPolicy: "relay",
      ...(o.iceServers ? { iceServers: o.iceServers } : {}),
    });
    g.t.client = client;
    for (const name of [
      "transportState",
      "iceError",
      "iceRestarted",
      "reconnected",
      "participantLeft",
      "participantJoined",
      "disconnected",
    ] as const)
      client.on(name, (data) => g.t.events.push({ name, at: Date.now(), data }));
    if (o.publish) await client.publishMedia({ audio: false, video: true });
    return { sid: client.joined.participant.sid, iceServers: client.joined.iceServers };
  }, o);
}

function events(page: Page): Promise<PageState["events"]> {
  return page.evaluate(() => (globalThis as unknown as { t: PageState }).t.events);
}

/** Frames decoded at the page's recv transport, and the type of the local candidate in use. */
function recvState(page: Page): Promise<{ frames: number; localType: string | undefined }> {
  return page.evaluate(async () => {
    const stats = (await (globalThis as unknown as { t: PageState }).t.client?.recvStats()) ?? [];
    const frames = Math.max(
      0,
      ...stats.filter((s) => s.type === "inbound-rtp" && s.kind === "video").map((s) => Number(s.framesDecoded ?? 0)),
    );
    const pair = stats.find((s) => s.type === "candidate-pair" && s.nominated === true && s.state === "succeeded");
    const local = stats.find((s) => s.type === "local-candidate" && s.id === pair?.localCandidateId);
    return { frames, localType: local?.candidateType as string | undefined };
  });
}

function context(): string {
  return [
    `publisher:`,
    ...(publisher?.console.slice(-10) ?? []),
    `subscriber:`,
    ...(subscriber?.console.slice(-10) ?? []),
    `turn:`,
    ...turn.logs.slice(-15),
    `node:`,
    ...node.logs.slice(-15),
  ].join("\n");
}

beforeAll(async () => {
  turn = await TurnServer.start();
  node = await MediaNodeProcess.start({ env: { TURN_URLS: turn.url("udp"), TURN_SECRET: turn.secret } });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await node?.stop();
  await turn?.stop();
});

describe("TURN (coturn, time-limited credentials) and ICE restart", () => {
  it("relay-only publisher and subscriber: the subscriber decodes video through the TURN server", async () => {
    publisher = await openPage(browser, `${node.httpUrl}/demo`);
    subscriber = await openPage(browser, `${node.httpUrl}/demo`);
    const started = Date.now();
    const pub = await connect(publisher.page, {
      url: node.signalUrl,
      token: await node.token("alice", ROOM),
      publish: true,
    });
    // The credentials are the TURN REST scheme's: `<expiry>:<participant sid>`.
    expect(pub.iceServers).toEqual([
      {
        urls: [turn.url("udp")],
        username: expect.stringMatching(new RegExp(`^\\d+:${pub.sid}$`)),
        credential: expect.any(String),
      },
    ]);
    await connect(subscriber.page, {
      url: node.signalUrl,
      token: await node.token("bob", ROOM, { canPublish: false }),
      publish: false,
    });
    const s = await waitFor(
      () => recvState(subscriber.page),
      (x) => x.frames > 10,
      "frames decoded through TURN",
      60_000,
    ).catch((e) => {
      throw new Error(`${e}\n${context()}`);
    });
    expect(s.localType).toBe("relay");
    console.log(`[turn] relay-only join → 10 frames decoded at the subscriber: ${Date.now() - started} ms`);
  });

  it("the publisher's ICE fails (relay gone) while its WebSocket stays up: ICE restart, media resumes in the same session", async () => {
    const sidBefore = await publisher.page.evaluate(
      () => (globalThis as unknown as { t: PageState }).t.client!.joined.participant.sid,
    );
    await turn.stop();
    // Both relay-only pages lose their media path; the publisher's send transport notices.
    await waitFor(
      () => events(publisher.page),
      (ev) =>
        ev.some(
          (e) =>
            e.name === "transportState" && ["disconnected", "failed"].includes((e.data as { state: string }).state),
        ),
      "publisher ICE lost",
      60_000,
    ).catch((e) => {
      throw new Error(`${e}\n${context()}`);
    });
    turn = await TurnServer.start({ port: turn.port, secret: turn.secret });
    const back = Date.now();
    const framesAtRestart = (await recvState(subscriber.page)).frames;
    const s = await waitFor(
      () => recvState(subscriber.page),
      (x) => x.frames > framesAtRestart + 20,
      "frames decoded again after the ICE restart",
      90_000,
    ).catch((e) => {
      throw new Error(`${e}\n${context()}`);
    });
    console.log(
      `[turn] relay back → subscriber decoding again: ${Date.now() - back} ms (frames ${framesAtRestart} → ${s.frames})`,
    );
    const ev = await events(publisher.page);
    expect(ev.some((e) => e.name === "iceRestarted" && (e.data as { direction: string }).direction === "send")).toBe(
      true,
    );
    // Same session: no rejoin, same participant sid, nobody saw the publisher leave.
    expect(ev.some((e) => e.name === "reconnected" || e.name === "disconnected")).toBe(false);
    expect(
      await publisher.page.evaluate(() => (globalThis as unknown as { t: PageState }).t.client!.joined.participant.sid),
    ).toBe(sidBefore);
    expect((await events(subscriber.page)).some((e) => e.name === "participantLeft")).toBe(false);
  });

  it("wrong or expired TURN credentials: the client reports iceError 401", async () => {
    const now = Date.now();
    const cases = {
      wrong: { urls: [turn.url("udp")], ...turnCredentials("not-the-secret-of-this-server", "mallory", 600, now) },
      expired: { urls: [turn.url("udp")], ...turnCredentials(turn.secret, "mallory", -60, now) },
    };
    for (const [what, server] of Object.entries(cases)) {
      const p = await openPage(browser, `${node.httpUrl}/demo`);
      await connect(p.page, {
        url: node.signalUrl,
        token: await node.token(`mallory-${what}`, ROOM),
        publish: true,
        iceServers: [server],
      });
      const ev = await waitFor(
        () => events(p.page),
        (e) => e.some((x) => x.name === "iceError"),
        `iceError for ${what} credentials`,
        30_000,
      );
      const err = ev.find((x) => x.name === "iceError")!.data as ClientEvents["iceError"];
      expect(err.errorCode).toBe(401);
      await p.page.close();
    }
  });
});
