// A participant of a distributed call: a Chromium page that joins like an app would — POST
// /v1/join through the real Worker, then MeridianClient with an onReconnect hook that asks the
// control plane again — and publishes its fake camera and mic.
import type { Browser, Page } from "playwright-core";
import { ClusterError, type JoinResult } from "../../infra/local/cluster.ts";
import type { DemoState } from "../../media-node/client/demo.ts";
import type { MeridianClient } from "../../media-node/client/meridian-client.ts";
import { busiest, inboundRtp, launchChromium, mediaFlows, openPage } from "../support/browser.ts";
import type { LocalCluster } from "../../infra/local/cluster.ts";
import { startDistributedCluster, type Cluster, type Where } from "./cluster.ts";

/** A test file's cluster and the browser its participants' pages run in, started side by side. */
export async function startCall(): Promise<{ c: Cluster; browser: Browser }> {
  const [c, browser] = await Promise.all([startDistributedCluster(), launchChromium()]);
  return { c, browser };
}

export async function stopCall(c: LocalCluster | undefined, browser: Browser | undefined): Promise<void> {
  await browser?.close();
  await c?.stop();
}

export interface Participant {
  identity: string;
  where: Where;
  page: Page;
  console: string[];
  /** The control plane's answer to the first join (url, origin, media node). */
  first: JoinResult;
  /** Joins the page asked the control plane for by itself (onReconnect): when it asked, when the
   * answer came, where the room is, which signal URL. */
  rejoins: { askedAt: number; at: number; node: string; url: string }[];
  /** Those the control plane refused (503 while the failed host is late, ...). */
  refusals: { askedAt: number; at: number; error: string }[];
}

export type PageGlobals = {
  meridian: DemoState;
  MeridianClient: typeof MeridianClient;
  meridianJoin(reason: string, failedNode?: string): Promise<{ url: string; token: string }>;
  moves?: number;
  /** What the page's client went through, with Date.now() (timeline.ts reads them). */
  marks?: { what: string; at: number }[];
};

/** `media: false`: the page publishes nothing (a test that exchanges data only). */
export async function joinCall(
  c: LocalCluster,
  browser: Browser,
  identity: string,
  room: string,
  where: Where,
  { media = true }: { media?: boolean } = {},
): Promise<Participant> {
  // Any node's demo page serves the client bundle; the page joins wherever the control plane says.
  const { page, console } = await openPage(browser, `${c.nodes[0]!.httpUrl}/demo`);
  const first = await c.join({ identity, room, location: where });
  const p: Participant = { identity, where, page, console, first, rejoins: [], refusals: [] };
  await page.exposeFunction("meridianJoin", async (_reason: string, failedNode?: string) => {
    const askedAt = Date.now();
    const r = await c.join({ identity, room, location: where, ...(failedNode ? { failedNode } : {}) }).catch((e) => {
      p.refusals.push({ askedAt, at: Date.now(), error: e instanceof ClusterError ? `${e.status}` : String(e) });
      throw e;
    });
    p.rejoins.push({ askedAt, at: Date.now(), node: r.node, url: r.url });
    return { url: r.url, token: r.token };
  });
  await page.evaluate(
    async ({ media, ...first }) => {
      const g = globalThis as unknown as PageGlobals;
      const client = await g.MeridianClient.connect({
        ...first,
        onReconnect: (reason, hint) => g.meridianJoin(reason, hint.failedNode),
      });
      g.meridian.client = client;
      const marks = (g.marks = [] as { what: string; at: number }[]);
      const mark = (what: string) => marks.length < 200 && marks.push({ what, at: Date.now() });
      client.on("reconnected", (next) => {
        g.meridian.client = next;
        g.moves = (g.moves ?? 0) + 1;
        mark(`connected to ${next.joined.node.id}`);
      });
      client.on("disconnected", (i) => mark(`closed ${i.code}`));
      client.on("resumed", () => mark("resumed"));
      client.on("resumeFailed", () => mark("resume failed"));
      client.on("participantJoined", (i) => mark(`sees ${i.identity} join`));
      client.on("trackSubscribed", (t) => t.kind === "video" && mark(`subscribed to ${t.identity}'s video`));
      if (media) await client.publishMedia();
    },
    { url: first.url, token: first.token, media },
  );
  return p;
}

/** The node answering the page's current client, its video frames decoded so far, and its moves. */
export async function callStatus(
  p: Participant,
): Promise<{ node: string | undefined; frames: number; flows: boolean; moves: number; videoTracks: number }> {
  const [node, moves] = await p.page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals;
    return [g.meridian.client?.joined.node.id, g.moves ?? 0] as const;
  });
  const stats = await inboundRtp(p.page);
  return {
    node,
    moves,
    frames: busiest(stats, "video", "framesDecoded")?.framesDecoded ?? 0,
    flows: mediaFlows(stats),
    /** Remote video tracks with frames decoded (one per other publisher in a working call). */
    videoTracks: stats.filter((s) => s.kind === "video" && (s.framesDecoded ?? 0) > 0).length,
  };
}
