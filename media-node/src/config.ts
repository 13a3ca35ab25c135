// Media node configuration: the deploy config's `media_node` section (file in MERIDIAN_CONFIG,
// snake_case keys) overlaid by environment variables (the same keys in UPPER_CASE), validated once
// at start-up. Secrets (api_keys) belong in the environment, not in the file.
import { hostname, networkInterfaces, availableParallelism } from "node:os";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { type DeployFile, WebhookConfig, loadDeployFile } from "#shared/deploy-config.ts";
import { parseApiKeys, type ApiKeys } from "#shared/token.ts";
import { CascadeConfig } from "#shared/cascade.ts";

const port = z.coerce.number().int().min(1).max(65535);
const ms = z.coerce.number().int().nonnegative();
const bool = z.union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((s) => s === "true" || s === "1")]);

export const ConfigSchema = z.object({
  node_id: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9._-]+$/)
    .optional(),
  region: z.string().min(1).max(64).default("local"),
  /** Address put in ICE candidates (public IP or hostname); defaults to the first non-internal IPv4. */
  announced_address: z.string().min(1).optional(),
  listen_ip: z.string().min(1).default("0.0.0.0"),
  http_host: z.string().min(1).default("0.0.0.0"),
  /** HTTP: signaling (ws at /rtc), /healthz, /readyz, /metrics, /demo. */
  http_port: port.default(7880),
  /** First UDP+TCP port of the WebRtcServers; worker i listens on rtc_port + i. */
  rtc_port: port.default(7882),
  /** mediasoup workers; default one per core. */
  workers: z.coerce.number().int().min(1).max(256).optional(),
  /** ws(s):// URL clients use to reach this node; default ws://<announced_address>:<http_port>/rtc. */
  signal_url: z.string().url().optional(),
  /** Unset: standalone (single node, in-memory state only). */
  redis_url: z.string().url().optional(),
  /** "key:secret[,key:secret]" — the control plane's API keys, to verify media tokens. */
  api_keys: z.string().min(3),
  empty_room_timeout_ms: ms.default(20_000),
  drain_deadline_ms: ms.default(10 * 60_000),
  /** Limits checked when a participant joins (0 = none). */
  max_participants_per_room: z.coerce.number().int().nonnegative().default(0),
  max_tracks: z.coerce.number().int().nonnegative().default(0),
  /** Consumers a mediasoup worker carries before a growing room takes another worker of this node
   * (router-group.ts explains the default); 0 = one router per room. */
  worker_consumer_budget: z.coerce.number().int().nonnegative().default(500),
  /** Cascade pipes (PipeTransports to other nodes, UDP + SRTP): bind address, the IP literal peers
   * send to (default: announced_address when it is one, else listen_ip) and the ports they may
   * use (one per pipe; unset: mediasoup's range). */
  pipe_listen_ip: z.string().min(1).optional(),
  pipe_announced_address: z.union([z.ipv4(), z.ipv6()]).optional(),
  pipe_port_min: port.optional(),
  pipe_port_max: port.optional(),
  /** Signaling rate limit per connection: sustained messages/s and burst. */
  signal_rate_per_sec: z.coerce.number().positive().default(50),
  signal_burst: z.coerce.number().int().positive().default(200),
  /** Seconds a socket without `access_token` in its URL has to send `join` with a token. */
  auth_timeout_ms: ms.default(10_000),
  /** A session lives at most this long after its join (0 = no limit); then the node sends
   * `reconnect` {reason: "session_expired"} and closes with 4440, and the client rejoins through
   * the control plane with a fresh app token. The media token only gates the join (as LiveKit's):
   * this bounds how long a revoked user or a stale grant can stay in a call. Default 12 h. */
  max_session_age_ms: ms.default(12 * 3_600_000),
  /** Bytes the node queues for one signaling socket before closing it (SendBufferFull, 4507). */
  signal_max_buffered_bytes: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .default(1024 * 1024),
  /** WebSockets that have not joined yet, node-wide; more upgrades get 503. */
  max_pending_sockets: z.coerce.number().int().positive().default(1_000),
  /** How long a session is kept after its connection dropped, for the client to resume it
   * (0 = off: a dropped connection leaves the room at once). */
  resume_grace_ms: ms.max(300_000).default(15_000),
  /** Sessions kept for resume at once, node-wide; a connection dropping beyond it leaves at once. */
  max_parked_sessions: z.coerce.number().int().nonnegative().default(1_000),
  /** TURN servers for clients (comma-separated turn:/turns: URIs); unset: no TURN. */
  turn_urls: z
    .string()
    .transform((s) =>
      s
        .split(",")
        .map((u) => u.trim())
        .filter((u) => u !== ""),
    )
    .pipe(z.array(z.string().regex(/^turns?:[^\s,]+$/, "a turn: or turns: URI")).max(8))
    .optional(),
  /** The TURN server's static-auth-secret (coturn `use-auth-secret`); required with turn_urls. */
  turn_secret: z.string().min(16).optional(),
  /** Lifetime of the TURN credentials handed out at join (and resume), seconds. */
  turn_credential_ttl_s: z.coerce
    .number()
    .int()
    .min(60)
    .max(7 * 86_400)
    .default(86_400),
  log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  mediasoup_log_level: z.enum(["debug", "warn", "error", "none"]).default("warn"),
  /** Serve the browser client bundle and demo page. */
  serve_demo: bool.default(true),
  /** LiveKit's webhook config (the deploy file's top-level `webhook:`): room events POSTed to each
   * URL, signed with api_key's secret (one of api_keys). In the environment: WEBHOOK as JSON. */
  webhook: z
    .preprocess((v) => {
      if (typeof v !== "string") return v;
      try {
        return JSON.parse(v) as unknown;
      } catch {
        return v;
      }
    }, WebhookConfig)
    .optional(),
});
type Raw = z.infer<typeof ConfigSchema>;

export interface MediaNodeConfig
  extends Omit<Raw, "node_id" | "announced_address" | "workers" | "signal_url" | "api_keys"> {
  /** The deploy file's `cascade:` section overlaid by CASCADE_* variables. */
  cascade: CascadeConfig;
  node_id: string;
  announced_address: string;
  workers: number;
  signal_url: string;
  api_keys: ApiKeys;
  /** True when redis_url is unset. */
  standalone: boolean;
}

export class ConfigError extends Error {}

function firstPublicIpv4(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}

/** Pure: merges file values and env (env wins) and validates. */
export function resolveConfig(
  file: Record<string, unknown>,
  env: Record<string, string | undefined>,
  cascadeFile: Record<string, unknown> = {},
): MediaNodeConfig {
  const merged: Record<string, unknown> = { ...file };
  for (const key of Object.keys(ConfigSchema.shape)) {
    const v = env[key.toUpperCase()];
    if (v !== undefined && v !== "") merged[key] = v;
  }
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ConfigError(`invalid media node config: ${msg}`);
  }
  const c = parsed.data;
  if ((c.turn_urls?.length ?? 0) > 0 && !c.turn_secret)
    throw new ConfigError("invalid media node config: turn_secret is required with turn_urls");
  if (
    (c.pipe_port_min === undefined) !== (c.pipe_port_max === undefined) ||
    (c.pipe_port_min ?? 0) > (c.pipe_port_max ?? 0)
  )
    throw new ConfigError("invalid media node config: pipe_port_min and pipe_port_max go together, min <= max");
  const cascadeMerged: Record<string, unknown> = { ...cascadeFile };
  for (const key of Object.keys(CascadeConfig.shape)) {
    const v = env[`CASCADE_${key.toUpperCase()}`];
    if (v !== undefined && v !== "") cascadeMerged[key] = v;
  }
  const cascade = CascadeConfig.safeParse(cascadeMerged);
  if (!cascade.success)
    throw new ConfigError(
      `invalid media node config: cascade: ${cascade.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  let apiKeys: ApiKeys;
  try {
    apiKeys = parseApiKeys(c.api_keys);
  } catch (e) {
    throw new ConfigError(`invalid media node config: api_keys: ${(e as Error).message}`);
  }
  if (c.webhook && !apiKeys.has(c.webhook.api_key))
    throw new ConfigError("invalid media node config: webhook.api_key is not one of api_keys");
  const announced = c.announced_address ?? firstPublicIpv4();
  const signalHost = announced.includes(":") ? `[${announced}]` : announced;
  return {
    ...c,
    node_id: c.node_id ?? `${hostname().replace(/[^A-Za-z0-9._-]/g, "-")}-${randomBytes(3).toString("hex")}`,
    announced_address: announced,
    workers: c.workers ?? availableParallelism(),
    signal_url: c.signal_url ?? `ws://${signalHost}:${c.http_port}/rtc`,
    api_keys: apiKeys,
    cascade: cascade.data,
    standalone: c.redis_url === undefined,
  };
}

/** Reads MERIDIAN_CONFIG (the deploy config, shared/deploy-config.ts: its `media_node` section, and
 * node_selector's regions, which must name this node's region) and the environment. */
export function loadConfig(env: Record<string, string | undefined> = process.env): MediaNodeConfig {
  const path = env.MERIDIAN_CONFIG;
  if (!path) return resolveConfig({}, env);
  let deploy: DeployFile;
  try {
    deploy = loadDeployFile(path);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  const unknown = Object.keys(deploy.media_node).filter((k) => !Object.hasOwn(ConfigSchema.shape, k));
  if (unknown.length > 0)
    throw new ConfigError(`invalid media node config: ${path}: unknown media_node key(s) ${unknown.join(", ")}`);
  const config = resolveConfig(
    { ...deploy.media_node, ...(deploy.webhook ? { webhook: deploy.webhook } : {}) },
    env,
    deploy.cascade,
  );
  const regions = deploy.node_selector.regions.map((r) => r.name);
  if (regions.length > 0 && !regions.includes(config.region))
    throw new ConfigError(
      `invalid media node config: region ${config.region} is not a node_selector region in ${path} (${regions.join(", ")})`,
    );
  return config;
}
