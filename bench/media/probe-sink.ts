// Arrival time of each numbered RTP packet on one loopback port (the payload's first 4 bytes number
// the packet), for latency probes that compare two ports. Each sink reads on its own thread: two
// sinks on one event loop would stamp packets that arrived apart in the same loop turn, hiding
// any difference shorter than the loop's wake-up. Times: the monotonic clock, ms.
import { once } from "node:events";
import { Worker } from "node:worker_threads";

const TIMEOUT_MS = 10_000;

export class ProbeSink {
  private readonly thread = new Worker(new URL("./probe-sink-thread.ts", import.meta.url));
  /** Listening from the start: the thread's first message may come before anyone asks for it. */
  private readonly port = once(this.thread, "message", { signal: AbortSignal.timeout(TIMEOUT_MS) }).then(
    ([m]) => (m as { port: number }).port,
  );

  /** The bound port. */
  start(): Promise<number> {
    return this.port;
  }

  /** Stops the sink; packet number → arrival time. */
  async stop(): Promise<Map<number, number>> {
    await this.port;
    const reply = once(this.thread, "message", { signal: AbortSignal.timeout(TIMEOUT_MS) });
    this.thread.postMessage("stop");
    try {
      const [m] = await reply;
      return new Map((m as { at: [number, number][] }).at);
    } finally {
      void this.thread.terminate();
    }
  }
}
