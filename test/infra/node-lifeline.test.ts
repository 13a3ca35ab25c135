// A media node started by the local launcher (tests, `npm run dev`) stops when the launcher dies,
// even by SIGKILL: a test file whose beforeAll timed out, or a crashed dev cluster, must not leave
// nodes (and their mediasoup workers) eating the machine's cores for the rest of the run.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { waitFor } from "../support/media-node.ts";

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("media node lifeline", () => {
  it("a node whose launcher is SIGKILLed stops", async () => {
    const launcher = spawn(process.execPath, [new URL("fixtures/launch-node.ts", import.meta.url).pathname], {
      stdio: ["ignore", "pipe", "inherit"],
      // not this test process's own IPC channel (vitest's fork), which the launcher would take as its own
      env: { ...process.env, NODE_CHANNEL_FD: undefined, NODE_CHANNEL_SERIALIZATION_MODE: undefined },
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: launcher.stdout! }).once("line", resolve);
        launcher.once("exit", (code) => reject(new Error(`launcher exited (${code}) before the node was up`)));
      });
      const { pid, http } = JSON.parse(line) as { pid: number; http: string };
      expect((await fetch(`${http}/healthz`)).status).toBe(200);

      launcher.kill("SIGKILL");
      await waitFor(
        async () => alive(pid),
        (a) => !a,
        "the orphaned node to stop",
        15_000,
      );
      await expect(fetch(`${http}/healthz`)).rejects.toThrow();
    } finally {
      launcher.kill("SIGKILL");
    }
  });
});
