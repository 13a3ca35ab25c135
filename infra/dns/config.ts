// The Route 53 tool's view of the deploy config (shared/deploy-config.ts): its `dns` section,
// checked against node_selector. Regions are named once, in node_selector; the dns section only
// adds what Route 53 needs for each of them.
import { isIP } from "node:net";
import { z } from "zod";
import { DEPLOY_FILE_SECTIONS, checkDeployFile, loadDeployFile, parseDeployFile } from "#shared/deploy-config.ts";
import { ResourceRecordSetRegion } from "@aws-sdk/client-route-53";

const awsRegions = Object.values(ResourceRecordSetRegion) as [string, ...string[]];

// RFC 1035 hostname: dot-separated labels of letters, digits and inner hyphens.
const hostnamePattern =
  /^(?=.{1,253}\.?$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?$/i;
const Hostname = z.string().regex(hostnamePattern, "must be a DNS hostname such as signal.example.com");

const HealthCheckSettings = z
  .object({
    protocol: z.enum(["HTTP", "HTTPS"]),
    port: z.number().int().min(1).max(65535),
    /** The media node's HTTP server answers 200 here while it is serving. */
    path: z.string().startsWith("/").max(255),
    /** Route 53 only offers 10 (fast, extra cost) and 30 seconds. */
    request_interval: z.union([z.literal(10), z.literal(30)]),
    failure_threshold: z.number().int().min(1).max(10),
  })
  .strict();
export type HealthCheckSettings = z.infer<typeof HealthCheckSettings>;

const DnsRegion = z
  .object({
    /** A node_selector region name. */
    name: z.string().min(1),
    /** AWS region whose latency Route 53 measures for this record. */
    aws_region: z.enum(awsRegions),
    /** The region's load balancer (or single node): an IPv4/IPv6 address (A/AAAA record) or a
     * hostname (CNAME record). */
    endpoint: z.string().refine((v) => isIP(v) !== 0 || hostnamePattern.test(v), "must be an IP address or a hostname"),
    health_check: HealthCheckSettings.partial().optional(),
  })
  .strict();

export const DnsConfig = z
  .object({
    hosted_zone_id: z.string().min(1).optional(),
    /** Zone name, used when hosted_zone_id is not given (looked up with ListHostedZonesByName). */
    hosted_zone: Hostname.optional(),
    /** The signal hostname: one latency record per region under this name. */
    record_name: Hostname,
    ttl: z.number().int().min(0).max(86_400).default(60),
    health_check: HealthCheckSettings.partial().default({}),
    regions: z.array(DnsRegion),
  })
  .strict();

export const DeployConfig = z
  .object({ ...DEPLOY_FILE_SECTIONS, dns: DnsConfig })
  .strict()
  .superRefine(checkDeployFile)
  .superRefine((cfg, ctx) => {
    const { dns } = cfg;
    if (!dns.hosted_zone_id && !dns.hosted_zone) {
      ctx.addIssue({ code: "custom", path: ["dns"], message: "set hosted_zone_id or hosted_zone" });
    }
    if (dns.hosted_zone && !isWithinZone(dns.record_name, dns.hosted_zone)) {
      ctx.addIssue({
        code: "custom",
        path: ["dns", "record_name"],
        message: `${dns.record_name} is not inside zone ${dns.hosted_zone}`,
      });
    }
    const selectorRegions = new Set(cfg.node_selector.regions.map((r) => r.name));
    const seen = new Set<string>();
    dns.regions.forEach((r, i) => {
      if (seen.has(r.name))
        ctx.addIssue({ code: "custom", path: ["dns", "regions", i, "name"], message: `duplicate region ${r.name}` });
      seen.add(r.name);
      if (!selectorRegions.has(r.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["dns", "regions", i, "name"],
          message: `${r.name} is not a node_selector region (${[...selectorRegions].join(", ") || "none"})`,
        });
      }
    });
    // Route 53 forbids a CNAME next to any other record at the same name.
    const kinds = new Set(dns.regions.map((r) => (isIP(r.endpoint) ? "address" : "hostname")));
    if (kinds.size > 1) {
      ctx.addIssue({
        code: "custom",
        path: ["dns", "regions"],
        message:
          "endpoints must be all IP addresses or all hostnames (a CNAME cannot share a name with A/AAAA records)",
      });
    }
    // The Worker hands out a region's signal_url; it must be the name this tool routes.
    cfg.node_selector.regions.forEach((r, i) => {
      if (r.signal_url && seen.has(r.name) && !sameHost(new URL(r.signal_url).hostname, dns.record_name)) {
        ctx.addIssue({
          code: "custom",
          path: ["node_selector", "regions", i, "signal_url"],
          message: `host must be dns.record_name (${dns.record_name})`,
        });
      }
    });
  });
export type DeployConfig = z.infer<typeof DeployConfig>;

const HEALTH_CHECK_DEFAULTS: HealthCheckSettings = {
  protocol: "HTTPS",
  port: 443,
  path: "/healthz",
  request_interval: 30,
  failure_threshold: 3,
};

/** A region's health check settings: its own overrides, then the dns-wide ones, then defaults. */
export function healthCheckFor(dns: z.infer<typeof DnsConfig>, region: z.infer<typeof DnsRegion>): HealthCheckSettings {
  return { ...HEALTH_CHECK_DEFAULTS, ...dns.health_check, ...region.health_check };
}

/** Lower case with the trailing dot, as Route 53 returns names. */
export function fqdn(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower : `${lower}.`;
}

function sameHost(a: string, b: string): boolean {
  return fqdn(a) === fqdn(b);
}

function isWithinZone(name: string, zone: string): boolean {
  const n = fqdn(name);
  const z = fqdn(zone);
  return n === z || n.endsWith(`.${z}`);
}

export { DeployFileError as ConfigError } from "#shared/deploy-config.ts";

export function parseDeployConfig(raw: unknown, source = "config"): DeployConfig {
  return parseDeployFile(raw, source, DeployConfig);
}

export async function loadDeployConfig(path: string): Promise<DeployConfig> {
  return loadDeployFile(path, DeployConfig);
}
