// A whole local Meridian cluster in one call: redis-server (unless a Redis URL is given), the
// Upstash REST stand-in, the real control-plane Worker under Miniflare, and N media nodes as child
// processes, all on 127.0.0.1. Used by `npm run dev` (infra/dev-cluster.ts) and by tests.
import { randomBytes } from "node:crypto";
import type { Miniflare, RequestInit as MfRequestInit } from "miniflare";
import type { z } from "zod";
import { CascadeConfig } from "#shared/cascade.ts";
import type { GeoPoint, NodeSelectorConfig, Region } from "#shared/config.ts";
import { mintToken, parseApiKeys, type VideoGrant } from "#shared/token.ts";
import { CLIENT_LOCATION_HEADER } from "../../control-plane/src/routes/cf.ts";
import { startUpstashRest, type UpstashRest } from "../upstash-rest/server.ts";
import type { Env } from "../../control-plane/src/env.ts";
import { MediaNodeChild } from "./media-node.ts";
import { RedisServer } from "./redis-server.ts";
import { waitFor } from "./wait.ts";
import { readResponse, startLocalWorker } from "./worker.ts";

export interface ClusterNodeSpec {
  nodeId: string;
  region: string;
  /** Extra media node env (config keys in UPPER_CASE). */
  env?: Record<string, string>;
}

export interface ClusterOptions {
  regions: Region[];
  nodes: ClusterNodeSpec[];
  /** Use this Redis instead of starting a redis-server. */
  redisUrl?: string;
  /** Region standing in for clients without a location (default: the first region). */
  defaultRegion?: string;
  /** Overrides of the Worker's node_selector (regions come from `regions`). */
  selector?: Partial<Omit<NodeSelectorConfig, "regions">>;
  /** Worker's loopback port (the dashboard's origin); default: a free one. */
  workerPort?: number;
  /** Log lines of the media nodes, by node id. */
  onLog?: (source: string, line: string) => void;
  /** Children in their own process groups: a terminal's Ctrl-C reaches only the launcher. */
  detached?: boolean;
  /** Extra Worker bindings (e.g. ROOM_RPC_TIMEOUT_MS). */
  workerVars?: Partial<Env>;
  /** Rooms that span nodes: the deploy config's `cascade:` section, given to the Worker (CASCADE)
   * and to every node (CASCADE_<KEY>) alike. Default: disabled. */
  cascade?: z.input<typeof CascadeConfig>;
  /** Bound on the whole start-up (all nodes registered), ms. */
  startTimeoutMs?: number;
  /** "key:secret[,key:secret]" for the Worker and the nodes; the first pair mints tokens.
   * Default: one pair minted for this cluster. */
  apiKeys?: string;
  /** MERIDIAN_CONFIG for the media nodes (a deploy config naming their regions). */
  deployConfigPath?: string;
}

export interface JoinRequest {
  room: string;
  identity: string;
  /** The client's location, handed to the Worker in X-Meridian-Client-Location. */
  location?: GeoPoint;
  /** A rejoining client's hint: the node it just lost (POST /v1/join failedNode). */
  failedNode?: string;
}

export interface JoinResult {
  room: string;
  identity: string;
  token: string;
  url: string;
  node: string;
  region: string;
  placement: string;
  /** The node this participant's media uses (control-plane/src/schemas.ts JoinResponse). */
  media: { node: string; region: string; role: "origin" | "edge" };
}

export class ClusterError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    super(`control plane answered ${status}: ${JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

export interface LocalCluster {
  readonly redisUrl: string;
  /** The redis-server this cluster started (undefined with an external Redis). */
  readonly redis: RedisServer | undefined;
  readonly upstashRest: UpstashRest;
  readonly mf: Miniflare;
  /** The Worker's loopback origin (dashboard, API). */
  readonly workerUrl: string;
  readonly nodes: readonly MediaNodeChild[];
  /** The node with this id; throws for an unknown id. */
  node(id: string): MediaNodeChild;
  /** The last log lines of every node, for failure messages. */
  logs(lines?: number): string;
  readonly apiKey: string;
  /** Dev secret: minted per cluster, never logged. */
  readonly apiSecret: string;
  /** A request to the Worker, optionally from a client location (X-Meridian-Client-Location). */
  workerFetch(path: string, init?: MfRequestInit, location?: GeoPoint): Promise<{ status: number; body: unknown }>;
  /** What an app server does: mint an app token for (room, identity), POST /v1/join from `location`. */
  join(req: JoinRequest): Promise<JoinResult>;
  /** An admin token for the API and the dashboard (default grants: roomList + roomAdmin). */
  adminToken(ttlSeconds?: number, video?: VideoGrant): Promise<string>;
  /** pids of every child process still running. */
  pids(): number[];
  /** Stops nodes, Worker, Upstash REST stand-in and redis-server, in that order; resolves when all are gone. */
  stop(): Promise<void>;
}

const ORIGIN = "http://control-plane.local";

export async function startCluster(o: ClusterOptions): Promise<LocalCluster> {
  const defaultRegion = o.defaultRegion ?? o.regions[0]?.name;
  if (!defaultRegion) throw new Error("a cluster needs at least one region");
  const apiKeys = o.apiKeys ?? `dev:${randomBytes(32).toString("base64url")}`;
  const [apiKey, apiSecret] = [...parseApiKeys(apiKeys)][0]!;
  const restToken = randomBytes(16).toString("hex");
  const cascade = CascadeConfig.parse(o.cascade ?? {});
  const cascadeEnv = Object.fromEntries(
    Object.entries(cascade).map(([k, v]) => [`CASCADE_${k.toUpperCase()}`, String(v)]),
  );
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };

  try {
    const redis = o.redisUrl ? undefined : await RedisServer.start({ detached: o.detached ?? false });
    if (redis) stops.push(() => redis.stop());
    const redisUrl = o.redisUrl ?? redis!.url;
    const upstashRest = await startUpstashRest({ redisUrl, token: restToken });
    stops.push(() => upstashRest.close());
    const selector = {
      kind: "regionaware",
      sort_by: "sysload",
      algorithm: "lowest",
      ...o.selector,
      regions: o.regions,
    };
    const { mf, url } = await startLocalWorker({
      bindings: {
        NODE_SELECTOR: JSON.stringify(selector),
        DEFAULT_REGION: defaultRegion,
        API_KEYS: apiKeys,
        UPSTASH_REDIS_REST_URL: upstashRest.url,
        UPSTASH_REDIS_REST_TOKEN: restToken,
        // Local clients (the dev app, curl, an app server of yours) state their location with
        // X-Meridian-Client-Location; never set in production.
        TRUST_CLIENT_LOCATION: "true",
        CASCADE: JSON.stringify(cascade),
        ...o.workerVars,
      },
      ...(o.workerPort !== undefined ? { port: o.workerPort } : {}),
    });
    stops.push(() => mf.dispose());
    const nodes: MediaNodeChild[] = [];
    stops.push(() => Promise.all(nodes.map((n) => n.stop())));
    // One at a time: each node builds mediasoup workers, and the machine may be small.
    for (const spec of o.nodes) {
      nodes.push(
        await MediaNodeChild.start({
          apiKey,
          apiSecret,
          nodeId: spec.nodeId,
          region: spec.region,
          redisUrl,
          detached: o.detached ?? false,
          env: {
            API_KEYS: apiKeys,
            ...cascadeEnv,
            ...(o.deployConfigPath ? { MERIDIAN_CONFIG: o.deployConfigPath } : {}),
            ...spec.env,
          },
          ...(o.onLog ? { onLog: (line: string) => o.onLog!(spec.nodeId, line) } : {}),
        }),
      );
    }

    const adminToken = (ttlSeconds = 3600, video: VideoGrant = { roomList: true, roomAdmin: true }) =>
      mintToken({ apiKey, apiSecret, identity: "dev-admin", video, ttlSeconds });

    // A client location travels as any HTTP client would send it: the dev-only header.
    const workerFetch: LocalCluster["workerFetch"] = async (path, init = {}, location) => {
      const headers = { ...(init.headers as Record<string, string> | undefined) };
      if (location) headers[CLIENT_LOCATION_HEADER] = `${location.lat},${location.lon}`;
      return readResponse(await mf.dispatchFetch(ORIGIN + path, { ...init, headers }));
    };

    const cluster: LocalCluster = {
      redisUrl,
      redis,
      upstashRest,
      mf,
      workerUrl: url.origin,
      nodes,
      node(id) {
        const n = nodes.find((x) => x.nodeId === id);
        if (!n) throw new Error(`no node ${id} in this cluster`);
        return n;
      },
      logs(lines = 15) {
        return nodes.map((n) => `--- ${n.nodeId}:\n${n.logs.slice(-lines).join("\n")}`).join("\n");
      },
      apiKey,
      apiSecret,
      workerFetch,
      adminToken,
      async join(req) {
        const video: VideoGrant = {
          roomJoin: true,
          room: req.room,
          canPublish: true,
          canSubscribe: true,
          canPublishData: true,
        };
        const appToken = await mintToken({ apiKey, apiSecret, identity: req.identity, video, ttlSeconds: 300 });
        const r = await workerFetch(
          "/v1/join",
          {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${appToken}` },
            body: JSON.stringify(req.failedNode !== undefined ? { failedNode: req.failedNode } : {}),
          },
          req.location,
        );
        if (r.status !== 200) throw new ClusterError(r.status, r.body);
        return r.body as JoinResult;
      },
      pids() {
        return [redis?.pid, ...nodes.filter((n) => n.running).map((n) => n.pid)].filter(
          (p): p is number => p !== undefined,
        );
      },
      stop: stopAll,
    };

    // Ready = every node's registry record is listed by the control plane.
    const token = await adminToken(60);
    await waitFor(
      async () => {
        const r = await workerFetch("/v1/nodes", { headers: { authorization: `Bearer ${token}` } });
        return r.status === 200 ? (r.body as { nodes: { id: string }[] }).nodes.length : -1;
      },
      (n) => n >= o.nodes.length,
      `${o.nodes.length} media nodes registered`,
      o.startTimeoutMs ?? 30_000,
    );
    return cluster;
  } catch (e) {
    await stopAll();
    throw e;
  }
}
