// Session resume end to end. A publisher in Chromium signals through a TCP proxy the test can cut
// (the WebSocket drops on both ends; the node and the media path stay up); it resumes its session:
// same participant sid, no republish, and the other participant never sees it leave or join
// again. Then the bad inputs: forged, unknown and expired resume tokens get `not_found` and close
// 4404 (the client's cue for a full rejoin), never a crash, and an expired session has left the room.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import type { ClientEvents, MeridianClient } from "../../media-node/client/meridian-client.ts";
import { SignalClient, SignalError } from "../../media-node/client/signal-client.ts";
import { CloseCode } from "#shared/protocol.ts";
import { launchChromium, openPage } from "../support/browser.ts";
import { MediaNodeProcess, waitFor } from "../support/media-node.ts";
import { TcpProxy } from "../support/tcp-proxy.ts";

const ROOM = "resume-room";
const GRACE_MS = 6_000;
let node: MediaNodeProcess;
let proxy: TcpProxy;
let browser: Browser;

interface PageState {
  client?: MeridianClient;
  events: { name: keyof ClientEvents; data: unknown }[];
}

async function connect(
  page: Page,
  o: { url: string; token: string; publish: boolean; rejoin?: { url: string; token: string } },
): Promise<string> {
  return page.evaluate(async (o) => {
    const g = globalThis as unknown as { MeridianClient: typeof MeridianClient; t: PageState };
    g.t = { events: [] };
    const rejoin = o.rejoin;
    const client = await g.MeridianClient.connect({
      url: o.url,
      token: o.token,
      ...(rejoin ? { onReconnect: async () => rejoin } : {}),
    });
    g.t.client = client;
    client.on("reconnected", (c) => (g.t.client = c));
    for (const name of [
      "resumed",
      "resumeFailed",
      "reconnected",
      "disconnected",
      "participantLeft",
      "participantJoined",
    ] as const)
      client.on(name, (data) =>
        g.t.events.push({
          name,
          data:
            name === "participantJoined" || name === "reconnected"
              ? { identity: (data as { identity?: string }).identity }
              : data,
        }),
      );
    if (o.publish) await client.publishMedia({ audio: false, video: true });
    return client.joined.participant.sid;
  }, o);
}

const events = (page: Page) => page.evaluate(() => (globalThis as unknown as { t: PageState }).t.events);
/** framesDecoded of each inbound video stream, by ssrc. */
const videoStreams = (page: Page) =>
  page.evaluate(async () => {
    const stats = (await (globalThis as unknown as { t: PageState }).t.client?.recvStats()) ?? [];
    return Object.fromEntries(
      stats
        .filter((s) => s.type === "inbound-rtp" && s.kind === "video")
        .map((s) => [String(s.ssrc), Number(s.framesDecoded ?? 0)]),
    );
  });
const framesDecoded = (page: Page) =>
  page.evaluate(async () => {
    const stats = (await (globalThis as unknown as { t: PageState }).t.client?.recvStats()) ?? [];
    return Math.max(
      0,
      ...stats.filter((s) => s.type === "inbound-rtp" && s.kind === "video").map((s) => Number(s.framesDecoded ?? 0)),
    );
  });

async function metric(name: string): Promise<string[]> {
  const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
  return text.split("\n").filter((l) => l.startsWith(name));
}

beforeAll(async () => {
  node = await MediaNodeProcess.start({ env: { RESUME_GRACE_MS: String(GRACE_MS) } });
  proxy = await TcpProxy.start(Number(new URL(node.httpUrl).port));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await proxy?.stop();
  await node?.stop();
});

describe("session resume", () => {
  it("the publisher's WebSocket drops: it resumes its session, same sid, nobody sees it leave, frames keep decoding", async () => {
    const publisher = await openPage(browser, `${node.httpUrl}/demo`);
    const subscriber = await openPage(browser, `${node.httpUrl}/demo`);
    const sid = await connect(publisher.page, {
      url: `ws://127.0.0.1:${proxy.port}/rtc`,
      token: await node.token("alice", ROOM),
      publish: true,
    });
    await connect(subscriber.page, {
      url: node.signalUrl,
      token: await node.token("bob", ROOM, { canPublish: false }),
      publish: false,
    });
    await waitFor(
      () => framesDecoded(subscriber.page),
      (n) => n > 10,
      "frames at the subscriber",
      60_000,
    );

    const dropped = Date.now();
    expect(proxy.dropAll()).toBeGreaterThan(0);
    const ev = await waitFor(
      () => events(publisher.page),
      (e) => e.some((x) => ["resumed", "resumeFailed"].includes(x.name)),
      "publisher resumed",
      30_000,
    ).catch((e) => {
      throw new Error(`${e}\n${publisher.console.join("\n")}\n${node.logs.slice(-20).join("\n")}`);
    });
    const resumed = ev.find((x) => x.name === "resumed")?.data as ClientEvents["resumed"] | undefined;
    expect(resumed, JSON.stringify(ev)).toBeDefined();
    expect(resumed!.sid).toBe(sid);
    const framesAtResume = await framesDecoded(subscriber.page);
    const n = await waitFor(
      () => framesDecoded(subscriber.page),
      (x) => x > framesAtResume + 20,
      "frames keep decoding after the resume",
      30_000,
    );
    console.log(
      `[resume] WebSocket dropped → session resumed: ${resumed!.ms} ms (test saw it after ${Date.now() - dropped} ms); frames ${framesAtResume} → ${n}`,
    );

    // The session is alive on the new connection: it answers requests, and nothing was republished.
    expect(
      await publisher.page.evaluate(
        async () => (globalThis as unknown as { t: PageState }).t.client!.joined.participant.sid,
      ),
    ).toBe(sid);
    expect(ev.some((x) => x.name === "reconnected")).toBe(false);
    const seen = await events(subscriber.page);
    expect(seen.filter((x) => x.name === "participantLeft" || x.name === "participantJoined")).toEqual([]);
    expect(await metric('meridian_signal_resumes_total{result="ok"}')).toEqual([
      'meridian_signal_resumes_total{result="ok"} 1',
    ]);
    expect(await metric("meridian_signal_sessions_parked")).toContain("meridian_signal_sessions_parked 0");
    // A deliberate leave is not parked.
    for (const p of [publisher, subscriber])
      await p.page.evaluate(() => (globalThis as unknown as { t: PageState }).t.client!.leave());
    await waitFor(
      () => metric("meridian_signal_sessions_parked"),
      (l) => l.includes("meridian_signal_sessions_parked 0"),
      "nothing parked after leave",
    );
    await publisher.page.close();
    await subscriber.page.close();
  });

  it("forged, unknown and expired resume tokens: not_found and close 4404, the node serves on; an expired session has left", async () => {
    const refused = async (token: string) => {
      const s = await SignalClient.open(node.signalUrl);
      const err = await s.request("resume", { token }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SignalError);
      expect((err as SignalError).code).toBe("not_found");
      expect((await s.closed).code).toBe(CloseCode.ResumeFailed);
    };
    // Carol joins, then her connection drops (a close that is not 1000): her session is parked.
    const carol = await SignalClient.open(node.signalUrl, await node.token("carol", "resume-bad"));
    const joined = await carol.request("join", {});
    const token = joined.resume!.token;
    expect(token.startsWith(`${joined.participant.sid}.`)).toBe(true);
    const dave = await SignalClient.open(node.signalUrl, await node.token("dave", "resume-bad"));
    const left: string[] = [];
    dave.onNotification(
      (name, data) => void (name === "participantLeft" && left.push((data as { identity: string }).identity)),
    );
    await dave.request("join", {});
    carol.close(4000, "network gone");
    await waitFor(
      () => metric("meridian_signal_sessions_parked"),
      (l) => l.includes("meridian_signal_sessions_parked 1"),
      "carol parked",
    );

    await refused(`${joined.participant.sid}.${"A".repeat(22)}`); // right session, forged secret
    await refused("PA_0000000000000000.whatever"); // no such session
    await refused("no-dot-at-all");
    // Still parked after the forgeries: nobody saw carol leave.
    expect(left).toEqual([]);
    // Past the grace period the session ends: dave sees carol leave, and her token is refused.
    await waitFor(
      async () => left,
      (l) => l.includes("carol"),
      "carol's session expired",
      GRACE_MS + 10_000,
    );
    await refused(token);
    expect(await metric('meridian_signal_resumes_total{result="expired"}')).toEqual([
      'meridian_signal_resumes_total{result="expired"} 1',
    ]);
    expect(await metric('meridian_signal_resumes_total{result="unknown"}')).toEqual([
      'meridian_signal_resumes_total{result="unknown"} 4',
    ]);
    expect(await (await fetch(`${node.httpUrl}/healthz`)).status).toBe(200);
    dave.close();
  });

  it("a resume the node refuses (forged secret) falls back to a full rejoin: a new session, media again", async () => {
    const publisher = await openPage(browser, `${node.httpUrl}/demo`);
    const subscriber = await openPage(browser, `${node.httpUrl}/demo`);
    const url = `ws://127.0.0.1:${proxy.port}/rtc`;
    const sid = await connect(publisher.page, {
      url,
      token: await node.token("erin", "fallback-room"),
      publish: true,
      rejoin: { url, token: await node.token("erin", "fallback-room") },
    });
    await connect(subscriber.page, {
      url: node.signalUrl,
      token: await node.token("frank", "fallback-room", { canPublish: false }),
      publish: false,
    });
    await waitFor(
      () => framesDecoded(subscriber.page),
      (n) => n > 10,
      "frames at the subscriber",
      60_000,
    );
    // The client holds a forged secret for its own session (runtime access to a private field).
    await publisher.page.evaluate(() => {
      const c = (globalThis as unknown as { t: PageState }).t.client as unknown as { resumeInfo: { token: string } };
      c.resumeInfo.token = `${c.resumeInfo.token.split(".")[0]}.forgedforgedforgedforged`;
    });
    const before = await videoStreams(subscriber.page);
    const dropped = Date.now();
    proxy.dropAll();
    const ev = await waitFor(
      () => events(publisher.page),
      (e) => e.some((x) => x.name === "reconnected"),
      "publisher rejoined",
      60_000,
    ).catch((e) => {
      throw new Error(`${e}\n${publisher.console.join("\n")}\n${node.logs.slice(-20).join("\n")}`);
    });
    expect(ev.find((x) => x.name === "resumeFailed")?.data).toMatchObject({
      error: expect.stringContaining("not_found"),
    });
    expect(ev.some((x) => x.name === "resumed")).toBe(false);
    const newSid = await publisher.page.evaluate(
      () => (globalThis as unknown as { t: PageState }).t.client!.joined.participant.sid,
    );
    expect(newSid).not.toBe(sid);
    // The subscriber decodes the republished track (a new stream).
    await waitFor(
      () => videoStreams(subscriber.page),
      (s) => Object.entries(s).some(([ssrc, n]) => !(ssrc in before) && n > 10),
      "the rejoined publisher's video",
      60_000,
    );
    console.log(`[resume] forged secret → full rejoin → new stream decoding: ${Date.now() - dropped} ms`);
  });
});
