// Where the time goes in a failover: for each participant page, from the kill to video decoding
// again — the client's close, its asks to the control plane and their answers, the replacement
// client connected, and the first frame decoded from each other participant on a track subscribed
// after the kill. Printed by the kill tests, never asserted (speed belongs in bench/).
import type { PageGlobals, Participant } from "./call.ts";

type Watch = { known: string[]; first: Record<string, number>; until: number };
type WatchGlobals = PageGlobals & { frameWatch?: Watch };

/** Starts watching, in each page, for the first decoded frame of each remote identity's video on
 * a track that was not there yet (a new subscription: after a rejoin, the publisher's or ours).
 * Polls every 50 ms for at most `forMs`. */
export async function watchNewFrames(ps: Participant[], forMs = 60_000): Promise<void> {
  await Promise.all(
    ps.map((p) =>
      p.page.evaluate((forMs) => {
        const g = globalThis as unknown as WatchGlobals;
        const known = (g.meridian.client?.remoteTracks ?? []).map((r) => r.track.id);
        const w: Watch = { known, first: {}, until: Date.now() + forMs };
        g.frameWatch = w;
        const tick = async () => {
          if (g.frameWatch !== w || Date.now() > w.until) return;
          for (const r of g.meridian.client?.remoteTracks ?? []) {
            if (r.kind !== "video" || w.known.includes(r.track.id) || w.first[r.identity] !== undefined) continue;
            const stats = await r.consumer.getStats().catch(() => undefined);
            for (const s of stats?.values() ?? [])
              if (s.type === "inbound-rtp" && (s.framesDecoded ?? 0) > 0) w.first[r.identity] ??= Date.now();
          }
          setTimeout(() => void tick(), 50);
        };
        void tick();
      }, forMs),
    ),
  );
}

export interface Timeline {
  identity: string;
  /** ms after `since` when video of each remote identity decoded on a new track. */
  firstFrames: Record<string, number>;
  /** One line: every event after `since`, in order, as "+ms what". */
  line: string;
}

/** The page's events since `since` (the kill), in order. */
export async function timelineOf(p: Participant, since: number): Promise<Timeline> {
  const { marks, first } = await p.page.evaluate(() => {
    const g = globalThis as unknown as WatchGlobals;
    return { marks: g.marks ?? [], first: g.frameWatch?.first ?? {} };
  });
  const events = [
    ...marks.map((m) => ({ at: m.at, what: m.what })),
    ...p.rejoins.flatMap((r) => [
      { at: r.askedAt, what: "asks /v1/join" },
      { at: r.at, what: `answer: room on ${r.node}, signal ${new URL(r.url).port}` },
    ]),
    ...p.refusals.map((r) => ({ at: r.askedAt, what: `asks /v1/join → ${r.error} after ${r.at - r.askedAt} ms` })),
    ...Object.entries(first).map(([id, at]) => ({ at, what: `decodes ${id}` })),
  ]
    .filter((e) => e.at >= since)
    .sort((a, b) => a.at - b.at);
  return {
    identity: p.identity,
    firstFrames: Object.fromEntries(Object.entries(first).map(([id, at]) => [id, at - since])),
    line: `${p.identity}: ${events.map((e) => `+${e.at - since} ${e.what}`).join(" · ")}`,
  };
}

/** The cluster's log lines mentioning `text` since `since` (pino JSON lines carry `time`), as "+ms node: msg". */
export function logEvents(logs: readonly { nodeId: string; logs: string[] }[], text: string, since: number): string[] {
  const out: { at: number; line: string }[] = [];
  for (const n of logs)
    for (const l of n.logs) {
      if (!l.includes(text)) continue;
      try {
        const j = JSON.parse(l) as { time?: number; msg?: string };
        if (typeof j.time === "number" && j.time >= since)
          out.push({ at: j.time, line: `+${j.time - since} ${n.nodeId}: ${j.msg}` });
      } catch {
        // not a JSON line
      }
    }
  return out.sort((a, b) => a.at - b.at).map((e) => e.line);
}

/** Waits until each page decoded video of the identities it should see again on new tracks;
 * returns the latest of those first frames, ms after `since`. */
export async function allNewFrames(
  expected: [Participant, string[]][],
  since: number,
  wait: <T>(get: () => Promise<T>, ok: (v: T) => boolean, what: string) => Promise<T>,
): Promise<number> {
  let last = 0;
  for (const [p, ids] of expected) {
    const t = await wait(
      () => timelineOf(p, since),
      (t) => ids.every((id) => t.firstFrames[id] !== undefined),
      `${p.identity} decodes ${ids.join(", ")} on new tracks`,
    );
    last = Math.max(last, ...ids.map((id) => t.firstFrames[id]!));
  }
  return last;
}
