// Worker bindings and the settings parsed from them (once per isolate and env object).
import { z } from "zod";
import { CascadeConfig } from "#shared/cascade.ts";
import { NodeSelectorConfig } from "#shared/config.ts";
import { parseApiKeys, type ApiKeys } from "#shared/token.ts";
import { misconfigured } from "./errors.ts";

/** wrangler.toml [vars] + secrets (see wrangler.toml and docs/configuration.md). */
export interface Env {
  /** JSON, LiveKit's node_selector shape (string or TOML table). */
  NODE_SELECTOR?: string | Record<string, unknown>;
  /** JSON, the deploy config's `cascade:` section (shared/cascade.ts CascadeConfig; string or TOML
   * table): rooms that span nodes, so join names each client's media node. Must match the media
   * nodes' settings. Default: disabled. */
  CASCADE?: string | Record<string, unknown>;
  /** Region whose coordinates stand in for a client without request.cf location. */
  DEFAULT_REGION?: string;
  /** Media token lifetime, seconds (default 600). */
  JOIN_TOKEN_TTL?: string;
  /** "false" → joins to unknown rooms get 404 instead of creating them (default true). */
  AUTO_CREATE?: string;
  /** "true" (dev environments only, never production): honour X-Meridian-Client-Location from
   * any HTTP client as the client's location, instead of Cloudflare's request.cf. */
  TRUST_CLIENT_LOCATION?: string;
  /** Browser origins allowed to call the API (CORS), comma-separated, e.g.
   * "https://app.example.com,https://staging.example.com". Default: none (no browser app may call
   * the API cross-origin; server-side callers are unaffected). */
  CORS_ORIGINS?: string;
  /** Most rooms one API key may have at a time (join auto-create and POST /v1/rooms); "0" = no
   * limit. Default 1000. */
  ROOMS_PER_API_KEY?: string;
  /** Milliseconds a RoomService operation waits for the hosting node's reply (default 3000). */
  ROOM_RPC_TIMEOUT_MS?: string;
  /** Secret: "key:secret,key2:secret2". */
  API_KEYS?: string;
  /** Secret: Upstash REST endpoint (locally: infra/upstash-rest). */
  UPSTASH_REDIS_REST_URL?: string;
  /** Secret: Upstash REST token. */
  UPSTASH_REDIS_REST_TOKEN?: string;
}

export interface Settings {
  selector: NodeSelectorConfig;
  cascade: CascadeConfig;
  apiKeys: ApiKeys;
  defaultRegion: string | undefined;
  joinTokenTtl: number;
  autoCreate: boolean;
  trustClientLocation: boolean;
  corsOrigins: ReadonlySet<string>;
  roomsPerApiKey: number;
  roomRpcTimeoutMs: number;
  redisUrl: string;
  redisToken: string;
}

/** ROOMS_PER_API_KEY when unset. */
export const DEFAULT_ROOMS_PER_API_KEY = 1000;

const Ttl = z.coerce.number().int().min(30).max(86_400);
const cache = new WeakMap<Env, Settings>();

/** A var holding JSON (or a TOML table), validated by `schema`; unset = `{}`. */
function jsonVar<S extends z.ZodType>(name: string, value: unknown, schema: S): z.infer<S> {
  let raw: unknown = value ?? {};
  if (typeof raw === "string") {
    try {
      raw = JSON.parse(raw);
    } catch {
      throw misconfigured(`${name} is not JSON`);
    }
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw misconfigured(`${name}: ${z.prettifyError(r.error)}`);
  return r.data;
}

function parse(env: Env): Settings {
  const selector = jsonVar("NODE_SELECTOR", env.NODE_SELECTOR, NodeSelectorConfig);
  const cascade = jsonVar("CASCADE", env.CASCADE, CascadeConfig);
  const ttl = Ttl.safeParse(env.JOIN_TOKEN_TTL ?? 600);
  if (!ttl.success) throw misconfigured("JOIN_TOKEN_TTL must be an integer number of seconds in 30..86400");
  let apiKeys: ApiKeys;
  try {
    apiKeys = parseApiKeys(env.API_KEYS ?? "");
  } catch (e) {
    throw misconfigured(`API_KEYS: ${(e as Error).message}`);
  }
  if (!env.UPSTASH_REDIS_REST_URL || !env.UPSTASH_REDIS_REST_TOKEN)
    throw misconfigured("UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set");
  const rpcTimeout = z.coerce
    .number()
    .int()
    .min(50)
    .max(9_000)
    .safeParse(env.ROOM_RPC_TIMEOUT_MS ?? 3_000);
  if (!rpcTimeout.success)
    throw misconfigured("ROOM_RPC_TIMEOUT_MS must be an integer number of milliseconds in 50..9000");
  const defaultRegion = env.DEFAULT_REGION || undefined;
  if (defaultRegion && !selector.regions.some((r) => r.name === defaultRegion))
    throw misconfigured(`DEFAULT_REGION ${defaultRegion} is not in NODE_SELECTOR.regions`);
  const quota = z.coerce
    .number()
    .int()
    .min(0)
    .max(10_000_000)
    .safeParse(env.ROOMS_PER_API_KEY ?? DEFAULT_ROOMS_PER_API_KEY);
  if (!quota.success) throw misconfigured("ROOMS_PER_API_KEY must be a non-negative integer (0 = no limit)");
  const corsOrigins = new Set<string>();
  for (const o of (env.CORS_ORIGINS ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean)) {
    const u = URL.parse(o);
    if (!u || (u.protocol !== "https:" && u.protocol !== "http:") || u.origin !== o)
      throw misconfigured(`CORS_ORIGINS: ${o} is not an origin like https://app.example.com`);
    corsOrigins.add(o);
  }
  return {
    selector,
    cascade,
    apiKeys,
    defaultRegion,
    joinTokenTtl: ttl.data,
    autoCreate: env.AUTO_CREATE !== "false",
    trustClientLocation: trustClientLocation(env.TRUST_CLIENT_LOCATION),
    corsOrigins,
    roomsPerApiKey: quota.data,
    roomRpcTimeoutMs: rpcTimeout.data,
    redisUrl: env.UPSTASH_REDIS_REST_URL,
    redisToken: env.UPSTASH_REDIS_REST_TOKEN,
  };
}

function trustClientLocation(v: string | undefined): boolean {
  if (v === undefined || v === "" || v === "false") return false;
  if (v === "true") return true;
  throw misconfigured('TRUST_CLIENT_LOCATION must be "true" or "false"');
}

export function settings(env: Env): Settings {
  let s = cache.get(env);
  if (!s) {
    s = parse(env);
    cache.set(env, s);
  }
  return s;
}
