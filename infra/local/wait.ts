// Bounded polling: every wait in the local cluster (and its tests) has a deadline.
import { setTimeout as sleep } from "node:timers/promises";

/** Polls `read` until `ok` holds (bounded); returns the last value, or throws with it. */
export async function waitFor<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (ok(last)) return last;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}
