// Entry point: `node media-node/src/main.ts` (config from env and/or the YAML file named by
// MERIDIAN_CONFIG). SIGTERM drains (no new rooms; exit once rooms end or the drain deadline
// passes); a second SIGTERM or SIGINT stops at once.
import { ConfigError, loadConfig } from "./config.ts";
import { MediaNode } from "./media-node.ts";

let config;
try {
  config = loadConfig();
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(e.message);
  process.exit(2);
}

const node = await MediaNode.start(config);
let signals = 0;

async function shutdown(signal: NodeJS.Signals): Promise<void> {
  signals++;
  if (signals > 1 || signal === "SIGINT") {
    node.log.info({ signal }, "stopping now");
  } else {
    node.log.info({ signal }, "drain requested");
    await node.drain();
  }
  await node.stop();
  process.exit(0);
}

for (const s of ["SIGTERM", "SIGINT"] as const) process.on(s, (sig) => void shutdown(sig));
// Launched over IPC (the local cluster, tests): stop once the launcher is gone, so a launcher that
// crashed or was killed leaves no node behind (a node under Docker/systemd has no IPC channel).
// Its stdout is usually a pipe to the launcher too: a log write may fail, and must not stop the stop.
if (process.send)
  process.once(
    "disconnect",
    () =>
      void node
        .stop()
        .catch(() => {})
        .finally(() => process.exit(0)),
  );
