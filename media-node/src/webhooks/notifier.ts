// Webhook delivery as LiveKit does it: each event POSTed to every configured URL as the
// WebhookEvent's protobuf-JSON, `Content-Type: application/webhook+json`, `Authorization: <JWT>`
// (bare, no "Bearer") signed with the configured API key, whose `sha256` claim is the base64
// SHA-256 of the body. At least once: failures (transport errors, 429, 5xx but 501) are retried
// 4 times with backoff 1 s × 2ⁿ (Retry-After honoured, capped at 30 s). In order per room: one
// serial lane per (URL, room). Bounded: 200 events per lane (LiveKit's per-resource queue) and
// 10 000 in all; an event over the bound is dropped and counted, never waited for — the room that
// raised it (and its media) never blocks on a webhook.
import { createHash } from "node:crypto";
import type { WebhookEvent } from "@livekit/protocol";
import { mintToken } from "#shared/token.ts";
import type { Logger } from "../log.ts";

export interface WebhookCounters {
  sent(): void;
  retried(): void;
  dropped(reason: "queue_full" | "failed"): void;
}

export interface WebhookNotifierOptions {
  apiKey: string;
  apiSecret: string;
  urls: readonly string[];
  counters: WebhookCounters;
  log: Logger;
  maxPerLane?: number;
  maxQueued?: number;
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per attempt. */
  requestTimeoutMs?: number;
}

/** Pure: the wait before retry `attempt` (0-based), or the receiver's Retry-After when it sent one. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, retryAfter?: string | null): number {
  const ra = retryAfter ? Number(retryAfter) : NaN;
  if (Number.isFinite(ra) && ra >= 0) return Math.min(ra * 1000, maxMs);
  return Math.min(baseMs * 2 ** attempt, maxMs);
}

/** Pure: whether a response status is worth another attempt (go-retryablehttp's rule). */
export const retryable = (status: number): boolean => status === 429 || (status >= 500 && status !== 501);

export const webhookBodyHash = (body: string): string => createHash("sha256").update(body).digest("base64");

interface Lane {
  bodies: string[];
  running: boolean;
}

export class WebhookNotifier {
  private readonly o: Required<Omit<WebhookNotifierOptions, "apiKey" | "apiSecret" | "urls" | "counters" | "log">> &
    WebhookNotifierOptions;
  private readonly lanes = new Map<string, Lane>();
  private queued = 0;
  private readonly stop = new AbortController();

  constructor(o: WebhookNotifierOptions) {
    this.o = {
      maxPerLane: 200,
      maxQueued: 10_000,
      retries: 4,
      baseDelayMs: 1_000,
      maxDelayMs: 30_000,
      requestTimeoutMs: 10_000,
      ...o,
    };
  }

  /** Queues the event for every URL; returns at once. */
  send(room: string, event: WebhookEvent): void {
    if (this.stop.signal.aborted) return;
    const body = JSON.stringify(event.toJson());
    for (const url of this.o.urls) {
      const key = `${url}\u0000${room}`;
      let lane = this.lanes.get(key);
      if (!lane) this.lanes.set(key, (lane = { bodies: [], running: false }));
      if (lane.bodies.length >= this.o.maxPerLane || this.queued >= this.o.maxQueued) {
        this.o.counters.dropped("queue_full");
        continue;
      }
      lane.bodies.push(body);
      this.queued++;
      if (!lane.running) void this.drain(key, url, lane);
    }
  }

  /** Events waiting or in flight. */
  get pending(): number {
    return this.queued;
  }

  private async drain(key: string, url: string, lane: Lane): Promise<void> {
    lane.running = true;
    while (lane.bodies.length > 0 && !this.stop.signal.aborted) {
      await this.deliver(url, lane.bodies[0]!);
      lane.bodies.shift();
      this.queued--;
    }
    lane.running = false;
    if (lane.bodies.length === 0 && this.lanes.get(key) === lane) this.lanes.delete(key);
  }

  private async deliver(url: string, body: string): Promise<void> {
    const sha256 = webhookBodyHash(body);
    for (let attempt = 0; ; attempt++) {
      let why: string;
      let retryAfter: string | null = null;
      let again = true;
      try {
        const token = await mintToken({
          apiKey: this.o.apiKey,
          apiSecret: this.o.apiSecret,
          video: {},
          sha256,
          ttlSeconds: 300,
        });
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/webhook+json", authorization: token },
          body,
          signal: AbortSignal.any([this.stop.signal, AbortSignal.timeout(this.o.requestTimeoutMs)]),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return this.o.counters.sent();
        why = `HTTP ${res.status}`;
        again = retryable(res.status);
        retryAfter = res.headers.get("retry-after");
      } catch (e) {
        why = (e as Error).message;
      }
      if (this.stop.signal.aborted) return;
      if (!again || attempt >= this.o.retries) {
        this.o.counters.dropped("failed");
        this.o.log.warn({ url: new URL(url).origin, why, attempts: attempt + 1 }, "webhook not delivered");
        return;
      }
      this.o.counters.retried();
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.stop.signal.removeEventListener("abort", done);
          resolve();
        };
        const t = setTimeout(done, retryDelayMs(attempt, this.o.baseDelayMs, this.o.maxDelayMs, retryAfter));
        this.stop.signal.addEventListener("abort", done, { once: true });
      });
    }
  }

  /** Stops delivering (node shutdown), after at most `graceMs` for what is queued (room_finished
   * of the rooms the shutdown closed); what is still queued then is dropped. */
  async close(graceMs = 2_000): Promise<void> {
    const until = Date.now() + graceMs;
    while (this.queued > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    this.stop.abort();
  }
}
