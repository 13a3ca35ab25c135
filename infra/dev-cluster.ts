// `npm run dev`: a local multi-region Meridian cluster on loopback — redis-server (unless
// REDIS_URL is set), the Upstash REST stand-in, the control-plane Worker under Miniflare, media nodes
// in the deploy config's regions (MERIDIAN_CONFIG, default infra/meridian.example.yaml: the seed's
// us-west-2 and us-east; one node per region plus a second in the default region) — plus the dev
// app page and the dashboard. Ctrl-C (SIGINT) or SIGTERM stops everything and exits 0.
//
// Env: MERIDIAN_CONFIG (deploy config), MERIDIAN_API_KEY + MERIDIAN_API_SECRET or API_KEYS
// (otherwise a pair is generated and printed once), REDIS_URL (use this Redis), DEV_APP_PORT
// (default 8080), DEV_WORKER_PORT (default 8787), DEV_VERBOSE=1 (media node info logs).
// Flags: --free-ports (any free ports; for tests), --machine (also print one
// `MERIDIAN_DEV_READY {json}` line with URLs, pids and the API key pair).
import { parseArgs } from "node:util";
import { EXAMPLE_DEPLOY_FILE, loadDeployFile } from "#shared/deploy-config.ts";
import { parseApiKeys } from "#shared/token.ts";
import { startCluster } from "./local/cluster.ts";
import { startDevApp } from "./local/dev-app/server.ts";
import { devApiKeys, devLayout } from "./local/dev-settings.ts";

const { values: flags } = parseArgs({ options: { "free-ports": { type: "boolean" }, machine: { type: "boolean" } } });
const port = (name: string, fallback: number) => (flags["free-ports"] ? 0 : Number(process.env[name] ?? fallback));
const verbose = process.env.DEV_VERBOSE === "1";
const configPath = process.env.MERIDIAN_CONFIG || EXAMPLE_DEPLOY_FILE;
const deploy = loadDeployFile(configPath);
const layout = devLayout(deploy);
const { regions: _, ...selector } = deploy.node_selector;
const { apiKeys, generated } = devApiKeys(process.env);
const [apiKey, apiSecret] = [...parseApiKeys(apiKeys)][0]!;

console.log(`[dev] starting the local cluster (${configPath})…`);
const t0 = performance.now();
const cluster = await startCluster({
  ...layout,
  nodes: layout.nodes.map((n) => ({ ...n, env: { LOG_LEVEL: verbose ? "info" : "warn" } })),
  // Loopback nodes share one machine's load: the limit must not hide a region's only node.
  selector: { ...selector, sysload_limit: 100 },
  apiKeys,
  deployConfigPath: configPath,
  cascade: deploy.cascade,
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
console.log(`  upstash rest     ${cluster.upstashRest.url}`);
console.log(`  control plane    ${cluster.workerUrl}  (Worker under Miniflare)`);
for (const n of cluster.nodes)
  console.log(`  media node       ${n.nodeId.padEnd(12)} ${n.region.padEnd(10)} ${n.httpUrl}`);
console.log(`\n  Demo:       ${app.url}/`);
console.log(`  Dashboard:  ${dashboardUrl}`);
console.log(`\n  API key:    ${apiKey}`);
console.log(`  API secret: ${generated ? apiSecret : "(from your environment)"}`);
console.log(`  An app server of yours mints tokens with this pair and calls ${cluster.workerUrl}/v1/join;`);
console.log("  it states its user's location with  X-Meridian-Client-Location: <lat>,<lon>  (dev only).");
console.log("\n  Ctrl-C stops everything.");
if (flags.machine) {
  const ready = {
    app: app.url,
    worker: cluster.workerUrl,
    dashboard: dashboardUrl,
    redisUrl: cluster.redisUrl,
    upstashRest: cluster.upstashRest.url,
    apiKey,
    apiSecret,
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
