// `npm run dev`: a local multi-region Meridian cluster on loopback — redis-server (unless
// REDIS_URL is set), the Upstash REST bridge, the control-plane Worker under Miniflare, three media
// nodes (us-east ×2, us-west-2 ×1, the seed's example coordinates) — plus the dev app page and the
// dashboard. Ctrl-C (SIGINT) or SIGTERM stops everything and exits 0.
//
// Env: REDIS_URL (use this Redis), DEV_APP_PORT (default 8080), DEV_WORKER_PORT (default 8787),
// DEV_VERBOSE=1 (media node info logs). Flags: --free-ports (any free ports; for tests),
// --machine (also print one `MERIDIAN_DEV_READY {json}` line with URLs and pids).
// The API secret is random per run; it is printed only inside the dev-only dashboard URL.
import { parseArgs } from "node:util";
import type { Region } from "../shared/config.ts";
import { startCluster, type ClusterNodeSpec } from "./local/cluster.ts";
import { startDevApp } from "./local/dev-app/server.ts";

export const DEV_REGIONS: Region[] = [
  { name: "us-west-2", lat: 44.19434095976287, lon: -123.0674908379146 },
  { name: "us-east", lat: 38.91315674936989, lon: -77.00426673190422 },
];

export const DEV_NODES: ClusterNodeSpec[] = [
  { nodeId: "us-east-a", region: "us-east" },
  { nodeId: "us-east-b", region: "us-east" },
  { nodeId: "us-west-2-a", region: "us-west-2" },
];

const { values: flags } = parseArgs({ options: { "free-ports": { type: "boolean" }, machine: { type: "boolean" } } });
const port = (name: string, fallback: number) => (flags["free-ports"] ? 0 : Number(process.env[name] ?? fallback));
const verbose = process.env.DEV_VERBOSE === "1";

console.log("[dev] starting the local cluster…");
const t0 = performance.now();
const cluster = await startCluster({
  regions: DEV_REGIONS,
  nodes: DEV_NODES.map((n) => ({ ...n, env: { LOG_LEVEL: verbose ? "info" : "warn" } })),
  defaultRegion: "us-east",
  // Loopback nodes share one machine's load: the limit must not hide a region's only node.
  selector: { sysload_limit: 100 },
  ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
  workerPort: port("DEV_WORKER_PORT", 8787),
  detached: true,
  onLog: (id, line) => console.log(`[${id}] ${line}`),
});

// If the launcher dies without stopping the cluster (an uncaught error), take the children along.
process.on("exit", () => {
  for (const pid of cluster.pids()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
});

const app = await startDevApp(cluster, { port: port("DEV_APP_PORT", 8080) });
const dashboardToken = await cluster.adminToken(12 * 3600);
const dashboardUrl = `${cluster.workerUrl}/dashboard#token=${dashboardToken}`;

console.log(`[dev] ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(`  redis            ${cluster.redisUrl}${cluster.redis ? "" : " (external)"}`);
console.log(`  upstash bridge   ${cluster.bridge.url}`);
console.log(`  control plane    ${cluster.workerUrl}  (Worker under Miniflare)`);
for (const n of cluster.nodes) console.log(`  media node       ${n.nodeId.padEnd(12)} ${n.region.padEnd(10)} ${n.httpUrl}`);
console.log(`\n  Demo:       ${app.url}/`);
console.log(`  Dashboard:  ${dashboardUrl}`);
console.log("\n  Ctrl-C stops everything.");
if (flags.machine) {
  const ready = {
    app: app.url,
    worker: cluster.workerUrl,
    dashboard: dashboardUrl,
    redisUrl: cluster.redisUrl,
    bridge: cluster.bridge.url,
    nodes: cluster.nodes.map((n) => ({ id: n.nodeId, region: n.region, http: n.httpUrl, pid: n.pid })),
    pids: cluster.pids(),
  };
  console.log(`MERIDIAN_DEV_READY ${JSON.stringify(ready)}`);
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    console.log(`[dev] ${signal} again: killing everything now`);
    process.exit(1); // the exit hook SIGKILLs the children
  }
  stopping = true;
  console.log(`[dev] ${signal}: stopping…`);
  await app.close();
  await cluster.stop();
  console.log("[dev] stopped");
  process.exit(0);
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  // Miniflare's own hook would exit 130 at once, before the nodes deregister; shutdown() disposes
  // Miniflare itself (and its "exit" hook, which stays, still kills workerd on any exit).
  process.removeAllListeners(sig);
  process.on(sig, () => void shutdown(sig));
}
