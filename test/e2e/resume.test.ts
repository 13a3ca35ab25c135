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

async function connect(page: Page, o: { url: string; token: string; publish: boolean }): Promise<string> {
  return page.evaluate(async (o) => {
    const g = globalThis as unknown as { MeridianClient: typeof MeridianClient; t: PageState };
    g.t = { events: [] };
    const client = await g.MeridianClient.connect({ url: o.url, token: o.token });
    g.t.client = client;
    for (const name of ["resumed", "resumeFailed", "reconnected", "disconnected", "participantLeft", "participantJoined"] as const)
      client.on(name, (data) => g.t.events.push({ name, data: name === "participantJoined" ? { identity: (data as { identity: string }).identity } : data }));
    if (o.publish) await client.publishMedia({ audio: false, video: true });
    return client.joined.participant.sid;
  }, o);
}

const events = (page: Page) => page.evaluate(() => (globalThis as unknown as { t: PageState }).t.events);
const framesDecoded = (page: Page) =>
  page.evaluate(async () => {
    const stats = (await (globalThis as unknown as { t: PageState }).t.client?.recvStats()) ?? [];
    return Math.max(0, ...stats.filter((s) => s.type === "inbound-rtp" && s.kind === "video").map((s) => Number(s.framesDecoded ?? 0)));
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
    const sid = await connect(publisher.page, { url: `ws://127.0.0.1:${proxy.port}/rtc`, token: await node.token("alice", ROOM), publish: true });
    await connect(subscriber.page, { url: node.signalUrl, token: await node.token("bob", ROOM, { canPublish: false }), publish: false });
    await waitFor(() => framesDecoded(subscriber.page), (n) => n > 10, "frames at the subscriber", 60_000);

    const dropped = Date.now();
    expect(proxy.dropAll()).toBeGreaterThan(0);
    const ev = await waitFor(() => events(publisher.page), (e) => e.some((x) => ["resumed", "resumeFailed"].includes(x.name)), "publisher resumed", 30_000).catch((e) => {
      throw new Error(`${e}\n${publisher.console.join("\n")}\n${node.logs.slice(-20).join("\n")}`);
    });
    const resumed = ev.find((x) => x.name === "resumed")?.data as ClientEvents["resumed"] | undefined;
    expect(resumed, JSON.stringify(ev)).toBeDefined();
    expect(resumed!.sid).toBe(sid);
    const framesAtResume = await framesDecoded(subscriber.page);
    const n = await waitFor(() => framesDecoded(subscriber.page), (x) => x > framesAtResume + 20, "frames keep decoding after the resume", 30_000);
    console.log(`[resume] WebSocket dropped → session resumed: ${resumed!.ms} ms (test saw it after ${Date.now() - dropped} ms); frames ${framesAtResume} → ${n}`);

    // The session is alive on the new connection: it answers requests, and nothing was republished.
    expect(await publisher.page.evaluate(async () => (globalThis as unknown as { t: PageState }).t.client!.joined.participant.sid)).toBe(sid);
    expect(ev.some((x) => x.name === "reconnected")).toBe(false);
    const seen = await events(subscriber.page);
    expect(seen.filter((x) => x.name === "participantLeft" || x.name === "participantJoined")).toEqual([]);
    expect(await metric('meridian_signal_resumes_total{result="ok"}')).toEqual(['meridian_signal_resumes_total{result="ok"} 1']);
    expect(await metric("meridian_signal_sessions_parked")).toContain("meridian_signal_sessions_parked 0");
    // A deliberate leave is not parked (a closed tab, 1001, would be: it may be a reload).
    for (const p of [publisher, subscriber]) await p.page.evaluate(() => (globalThis as unknown as { t: PageState }).t.client!.leave());
    await waitFor(() => metric("meridian_signal_sessions_parked"), (l) => l.includes("meridian_signal_sessions_parked 0"), "nothing parked after leave");
    await publisher.page.close();
    await subscriber.page.close();
  });

  it("forged, unknown and expired resume tokens: not_found and close 4404, the node serves on; an expired session has left", async () => {
    const refused = async (token: string) => {
      const s = await SignalClient.open(node.signalUrl);
      const err = await s.request("resume", { token }).then(() => undefined, (e: unknown) => e);
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
    dave.onNotification((name, data) => void (name === "participantLeft" && left.push((data as { identity: string }).identity)));
    await dave.request("join", {});
    carol.close(4000, "network gone");
    await waitFor(() => metric("meridian_signal_sessions_parked"), (l) => l.includes("meridian_signal_sessions_parked 1"), "carol parked");

    await refused(`${joined.participant.sid}.${"A".repeat(22)}`); // right session, forged secret
    await refused("PA_0000000000000000.whatever"); // no such session
    await refused("no-dot-at-all");
    // Still parked after the forgeries: nobody saw carol leave.
    expect(left).toEqual([]);
    // Past the grace period the session ends: dave sees carol leave, and her token is refused.
    await waitFor(async () => left, (l) => l.includes("carol"), "carol's session expired", GRACE_MS + 10_000);
    await refused(token);
    expect(await metric('meridian_signal_resumes_total{result="expired"}')).toEqual(['meridian_signal_resumes_total{result="expired"} 1']);
    expect(await metric('meridian_signal_resumes_total{result="unknown"}')).toEqual(['meridian_signal_resumes_total{result="unknown"} 4']);
    expect(await (await fetch(`${node.httpUrl}/healthz`)).status).toBe(200);
    dave.close();
  });
});
