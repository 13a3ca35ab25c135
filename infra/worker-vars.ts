// The deploy config → the Worker's vars (the Worker cannot read files): what `npm run
// deploy:worker` passes to `wrangler deploy` as --var flags, so a deployment states its regions once.
import type { Env } from "../control-plane/src/env.ts";
import type { DeployFile } from "#shared/deploy-config.ts";

/** The Worker vars (names from control-plane/src/env.ts) a deploy config sets, as strings. */
export type WorkerVars = { NODE_SELECTOR: string; CASCADE: string } & Partial<
  Record<keyof Env & ("DEFAULT_REGION" | "JOIN_TOKEN_TTL" | "AUTO_CREATE"), string>
>;

/** Vars from the file; control_plane settings the file leaves out keep wrangler.toml's (or the
 * Worker's default). CASCADE is always set, defaults included: the Worker must decide with the
 * media nodes' `cascade:` settings, which come from the same file. */
export function workerVars(file: DeployFile): WorkerVars {
  const cp = file.control_plane;
  return {
    NODE_SELECTOR: JSON.stringify(file.node_selector),
    CASCADE: JSON.stringify(file.cascade),
    ...(cp.default_region !== undefined ? { DEFAULT_REGION: cp.default_region } : {}),
    ...(cp.join_token_ttl !== undefined ? { JOIN_TOKEN_TTL: String(cp.join_token_ttl) } : {}),
    ...(cp.auto_create !== undefined ? { AUTO_CREATE: String(cp.auto_create) } : {}),
  };
}

/** `wrangler deploy` arguments carrying the vars (wrangler splits NAME:VALUE at the first colon). */
export function wranglerDeployArgs(file: DeployFile, env: string, extra: readonly string[] = []): string[] {
  const vars = Object.entries(workerVars(file)).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  return ["deploy", "--env", env, ...vars, ...extra];
}
