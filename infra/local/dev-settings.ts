// What `npm run dev` derives from its inputs (pure): the cluster's layout from a deploy config and
// the API key pair from the environment.
import { randomBytes } from "node:crypto";
import type { Region } from "#shared/config.ts";
import type { DeployFile } from "#shared/deploy-config.ts";
import type { ClusterNodeSpec } from "./cluster.ts";

/** The dev cluster's shape from a deploy config: its regions on loopback (signal_url is a
 * deployment's DNS name, so local nodes hand out their own URLs), one node per region and a second
 * one in the default region. */
export function devLayout(file: DeployFile): { regions: Region[]; nodes: ClusterNodeSpec[]; defaultRegion: string } {
  const regions = file.node_selector.regions.map(({ signal_url: _, ...r }) => r);
  const defaultRegion = file.control_plane.default_region ?? regions[0]?.name;
  if (!defaultRegion) throw new Error("the deploy config names no node_selector region");
  const nodes = regions.map((r) => ({ nodeId: `${r.name}-a`, region: r.name }));
  nodes.push({ nodeId: `${defaultRegion}-b`, region: defaultRegion });
  return { regions, nodes, defaultRegion };
}

/** API keys from the environment (MERIDIAN_API_KEY/SECRET, else API_KEYS), else a fresh pair. */
export function devApiKeys(env: NodeJS.ProcessEnv): { apiKeys: string; generated: boolean } {
  const { MERIDIAN_API_KEY: key, MERIDIAN_API_SECRET: secret, API_KEYS: keys } = env;
  if (key || secret) {
    if (!key || !secret) throw new Error("set both MERIDIAN_API_KEY and MERIDIAN_API_SECRET (or neither)");
    return { apiKeys: `${key}:${secret}`, generated: false };
  }
  if (keys) return { apiKeys: keys, generated: false };
  return { apiKeys: `dev:${randomBytes(24).toString("base64url")}`, generated: true };
}
