// Pure planning: desired state (from the deploy config) + current state (what Route 53 lists) →
// the health checks to create, one ChangeBatch, the health checks to delete. No I/O here, so every
// rule is unit-testable and `--dry-run` prints exactly what a real run would send.
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import type {
  Change,
  ChangeBatch,
  HealthCheck,
  HealthCheckConfig,
  ResourceRecordSet,
  RRType,
} from "@aws-sdk/client-route-53";
import { fqdn, healthCheckFor, type DeployConfig } from "./config.ts";

export interface DesiredRegion {
  /** SetIdentifier of the latency record: the node_selector region name. */
  setIdentifier: string;
  record: ResourceRecordSet;
  healthCheck: HealthCheckConfig;
}

export interface CurrentState {
  /** Every record set Route 53 lists under the signal hostname. */
  records: ResourceRecordSet[];
  /** Health checks this deployment created (CallerReference starts with ownerPrefix). */
  healthChecks: HealthCheck[];
}

export interface HealthCheckToCreate {
  setIdentifier: string;
  /** Stands in for the Id in the ChangeBatch until CreateHealthCheck returns the real one. */
  placeholder: string;
  callerReferencePrefix: string;
  config: HealthCheckConfig;
}

export interface Plan {
  createHealthChecks: HealthCheckToCreate[];
  /** null when the records already match. */
  changeBatch: ChangeBatch | null;
  /** Ids of this deployment's health checks that nothing will reference after the batch. */
  deleteHealthChecks: string[];
}

export class PlanError extends Error {
  override name = "PlanError";
}

const hash8 = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 8);

/** Marks the health checks one deployment (zone + hostname) owns. CallerReference is at most 64
 * characters and must never repeat (Route 53 refuses a deleted check's reference), so it holds
 * hashes plus a nonce; the Name tag carries the readable form. */
export function ownerPrefix(hostedZoneId: string, recordName: string): string {
  return `meridian:${hash8(`${hostedZoneId}|${fqdn(recordName)}`)}:`;
}

export function regionReferencePrefix(owner: string, setIdentifier: string): string {
  return `${owner}${hash8(setIdentifier)}:`;
}

export const placeholderFor = (setIdentifier: string) => `{{new-health-check:${setIdentifier}}}`;

const stripDot = (name: string) => name.replace(/\.$/, "").toLowerCase();

/** Canonical text of an address, so "2001:0DB8::1" and "2001:db8::1" compare equal. */
function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
}

function recordTypeFor(endpoint: string): RRType {
  const family = isIP(endpoint);
  return family === 4 ? "A" : family === 6 ? "AAAA" : "CNAME";
}

export function desiredState(config: DeployConfig): DesiredRegion[] {
  const { dns } = config;
  const name = fqdn(dns.record_name);
  return dns.regions.map((region) => {
    const type = recordTypeFor(region.endpoint);
    const hc = healthCheckFor(dns, region);
    const healthCheck: HealthCheckConfig = {
      Type: hc.protocol,
      ...(type === "CNAME"
        ? { FullyQualifiedDomainName: stripDot(region.endpoint) }
        : // Checks go to the address; the signal hostname is the Host header (and SNI).
          { IPAddress: canonicalIp(region.endpoint), FullyQualifiedDomainName: stripDot(name) }),
      Port: hc.port,
      ResourcePath: hc.path,
      RequestInterval: hc.request_interval,
      FailureThreshold: hc.failure_threshold,
      ...(hc.protocol === "HTTPS" ? { EnableSNI: true } : {}),
    };
    const record: ResourceRecordSet = {
      Name: name,
      Type: type,
      SetIdentifier: region.name,
      Region: region.aws_region as ResourceRecordSet["Region"],
      TTL: dns.ttl,
      ResourceRecords: [{ Value: type === "CNAME" ? fqdn(region.endpoint) : canonicalIp(region.endpoint) }],
      HealthCheckId: placeholderFor(region.name),
    };
    return { setIdentifier: region.name, record, healthCheck };
  });
}

function sameHealthCheck(current: HealthCheckConfig | undefined, desired: HealthCheckConfig): boolean {
  if (!current) return false;
  return (
    current.Type === desired.Type &&
    (current.IPAddress ? canonicalIp(current.IPAddress) : undefined) === desired.IPAddress &&
    (current.FullyQualifiedDomainName ? stripDot(current.FullyQualifiedDomainName) : undefined) ===
      desired.FullyQualifiedDomainName &&
    current.Port === desired.Port &&
    current.ResourcePath === desired.ResourcePath &&
    (current.RequestInterval ?? 30) === desired.RequestInterval &&
    (current.FailureThreshold ?? 3) === desired.FailureThreshold &&
    (desired.Type !== "HTTPS" || current.EnableSNI === desired.EnableSNI) &&
    !current.Inverted &&
    !current.Disabled
  );
}

const recordValues = (r: ResourceRecordSet) =>
  (r.ResourceRecords ?? [])
    .map((v) => (r.Type === "CNAME" ? fqdn(v.Value ?? "") : canonicalIp(v.Value ?? "")))
    .sort()
    .join(",");

function sameRecord(current: ResourceRecordSet, desired: ResourceRecordSet): boolean {
  return (
    current.TTL === desired.TTL &&
    current.Region === desired.Region &&
    current.HealthCheckId === desired.HealthCheckId &&
    !current.AliasTarget &&
    recordValues(current) === recordValues(desired)
  );
}

export function planSync(desired: DesiredRegion[], current: CurrentState, owner: string): Plan {
  const name = desired[0]?.record.Name;
  const managed = current.records.filter((r) => r.Type === "A" || r.Type === "AAAA" || r.Type === "CNAME");
  for (const r of managed) {
    if (!r.SetIdentifier || !r.Region) {
      throw new PlanError(
        `${r.Name} already has a ${r.Type} record without latency routing (SetIdentifier + Region); ` +
          "Route 53 cannot mix it with latency records — delete it or pick another record_name",
      );
    }
  }
  const byId = new Map(current.healthChecks.map((hc) => [hc.Id, hc]));
  const claimed = new Set<string>();
  const createHealthChecks: HealthCheckToCreate[] = [];
  const deletes: Change[] = [];
  const writes: Change[] = [];

  for (const want of desired) {
    const regionPrefix = regionReferencePrefix(owner, want.setIdentifier);
    const existing = managed.filter((r) => r.SetIdentifier === want.setIdentifier);
    // Keep the check the live record points at when it still fits; else adopt a fitting one this
    // region created earlier (e.g. a run that died before its ChangeBatch); else create one.
    const inUse = existing
      .map((r) => byId.get(r.HealthCheckId))
      .find((hc) => hc && sameHealthCheck(hc.HealthCheckConfig, want.healthCheck));
    const adoptable = current.healthChecks.find(
      (hc) =>
        !claimed.has(hc.Id ?? "") &&
        hc.CallerReference?.startsWith(regionPrefix) &&
        sameHealthCheck(hc.HealthCheckConfig, want.healthCheck),
    );
    const reuse = inUse ?? adoptable;
    let healthCheckId: string;
    if (reuse?.Id) {
      healthCheckId = reuse.Id;
      claimed.add(reuse.Id);
    } else {
      healthCheckId = placeholderFor(want.setIdentifier);
      createHealthChecks.push({
        setIdentifier: want.setIdentifier,
        placeholder: healthCheckId,
        callerReferencePrefix: regionPrefix,
        config: want.healthCheck,
      });
    }
    const record: ResourceRecordSet = { ...want.record, HealthCheckId: healthCheckId };
    const sameType = existing.find((r) => r.Type === record.Type);
    for (const stale of existing) if (stale !== sameType) deletes.push({ Action: "DELETE", ResourceRecordSet: stale });
    if (!sameType) writes.push({ Action: "CREATE", ResourceRecordSet: record });
    else if (!sameRecord(sameType, record)) writes.push({ Action: "UPSERT", ResourceRecordSet: record });
  }

  const wanted = new Set(desired.map((d) => d.setIdentifier));
  for (const r of managed)
    if (!wanted.has(r.SetIdentifier ?? "")) deletes.push({ Action: "DELETE", ResourceRecordSet: r });

  // DELETEs first: Route 53 validates a batch in order, and a region switching between CNAME and
  // A/AAAA must lose its old record before the new one may exist.
  const changes = [...deletes, ...writes];
  return {
    createHealthChecks,
    changeBatch: changes.length
      ? { Comment: `meridian dns sync: ${name ?? "remove all regions"}`, Changes: changes }
      : null,
    deleteHealthChecks: current.healthChecks.map((hc) => hc.Id ?? "").filter((id) => id && !claimed.has(id)),
  };
}

/** The ChangeBatch with the real Ids of the health checks just created. */
export function resolvePlaceholders(batch: ChangeBatch, ids: ReadonlyMap<string, string>): ChangeBatch {
  return {
    ...batch,
    Changes: (batch.Changes ?? []).map((c) => {
      const hcId = c.ResourceRecordSet?.HealthCheckId;
      const real = hcId ? ids.get(hcId) : undefined;
      return real ? { ...c, ResourceRecordSet: { ...c.ResourceRecordSet!, HealthCheckId: real } } : c;
    }),
  };
}
