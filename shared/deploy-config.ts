// The deployment config file, in LiveKit's config.yaml shape: `node_selector` (kind,
// sysload_limit, regions…) states the regions once, and each Meridian component has its own
// section. The media nodes (MERIDIAN_CONFIG), `npm run dns:sync`, `npm run deploy:worker` (which
// turns it into the Worker's vars: the Worker cannot read files) and `npm run dev` all read it.
// No secrets live here. Node only (reads files).
//
// Adding a section: one key below with its schema (or `Section` when its owner validates it), and
// a row in docs/configuration.md.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { CascadeConfig } from "./cascade.ts";
import { NodeSelectorConfig } from "./config.ts";

/** A section validated by the component that owns it (media-node/src/config.ts, infra/dns/config.ts). */
const Section = z.record(z.string(), z.unknown());

/** What the Worker needs besides the selector (turned into wrangler vars by infra/worker-vars.ts). */
export const ControlPlaneSection = z
  .object({
    /** Region whose coordinates stand in for a client without a location. */
    default_region: z.string().min(1).optional(),
    /** Media token lifetime, seconds. */
    join_token_ttl: z.number().int().min(30).max(86_400).optional(),
    /** false: joining an unknown room is 404 instead of creating it. */
    auto_create: z.boolean().optional(),
  })
  .strict();

/** LiveKit's `webhook:` section, top level as in LiveKit's config.yaml: the media nodes POST room
 * events to every URL, signed with api_key's secret (one of their API_KEYS). */
export const WebhookConfig = z
  .object({
    api_key: z.string().min(1).max(128),
    urls: z
      .array(z.url({ protocol: /^https?$/ }))
      .min(1)
      .max(8),
  })
  .strict();
export type WebhookConfig = z.infer<typeof WebhookConfig>;

/** The file's sections. A component that validates its own section replaces it in a schema of its
 * own: `z.object({ ...DEPLOY_FILE_SECTIONS, dns: DnsConfig }).strict().superRefine(checkDeployFile)`. */
export const DEPLOY_FILE_SECTIONS = {
  node_selector: NodeSelectorConfig.default(NodeSelectorConfig.parse({})),
  control_plane: ControlPlaneSection.default({}),
  media_node: Section.default({}),
  webhook: WebhookConfig.optional(),
  /** Rooms that span nodes (shared/cascade.ts); absent: disabled, today's behaviour. */
  cascade: CascadeConfig.default(CascadeConfig.parse({})),
  dns: Section.optional(),
};

/** Cross-section rules: region names are unique; the default region is one of them. */
export function checkDeployFile(
  f: { node_selector: NodeSelectorConfig; control_plane: z.infer<typeof ControlPlaneSection> },
  ctx: z.RefinementCtx,
): void {
  const names = f.node_selector.regions.map((r) => r.name);
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i)
      ctx.addIssue({ code: "custom", path: ["node_selector", "regions", i, "name"], message: `duplicate region ${n}` });
  });
  const d = f.control_plane.default_region;
  if (d !== undefined && !names.includes(d))
    ctx.addIssue({
      code: "custom",
      path: ["control_plane", "default_region"],
      message: `${d} is not a node_selector region (${names.join(", ") || "none"})`,
    });
}

export const DeployFile = z.object(DEPLOY_FILE_SECTIONS).strict().superRefine(checkDeployFile);
export type DeployFile = z.infer<typeof DeployFile>;

export class DeployFileError extends Error {
  override name = "DeployFileError";
}

/** zod issues one per line with their path, so a user can find each bad field. */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `  - ${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`).join("\n");
}

/** Validates a parsed file against DeployFile, or against a component's own extension of it. */
export function parseDeployFile(raw: unknown, source?: string): DeployFile;
export function parseDeployFile<S extends z.ZodType>(raw: unknown, source: string, schema: S): z.infer<S>;
export function parseDeployFile(raw: unknown, source = "config", schema: z.ZodType = DeployFile): unknown {
  const r = schema.safeParse(raw ?? {});
  if (!r.success) throw new DeployFileError(`invalid ${source}:\n${formatIssues(r.error)}`);
  return r.data;
}

/** Reads and validates the file (YAML; JSON is YAML too). */
export function loadDeployFile(path: string): DeployFile;
export function loadDeployFile<S extends z.ZodType>(path: string, schema: S): z.infer<S>;
export function loadDeployFile(path: string, schema: z.ZodType = DeployFile): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new DeployFileError(`cannot read ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new DeployFileError(`${path} is not valid YAML: ${(e as Error).message}`);
  }
  return parseDeployFile(raw, path, schema);
}

/** The example that ships with the repo: the seed's regions. `npm run dev` runs it. */
export const EXAMPLE_DEPLOY_FILE = new URL("../infra/meridian.example.yaml", import.meta.url).pathname;
