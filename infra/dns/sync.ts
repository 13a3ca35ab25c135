// One DNS sync: config → zone → current state → plan → (unless dry run) apply.
import { fqdn, type DeployConfig } from "./config.ts";
import { desiredState, ownerPrefix, planSync, type Plan } from "./plan.ts";
import type { Route53Io } from "./route53.ts";

export interface SyncResult {
  hostedZoneId: string;
  recordName: string;
  plan: Plan;
  /** Absent on a dry run. */
  applied?: { createdHealthChecks: string[]; changeId?: string };
}

export async function syncDns(config: DeployConfig, io: Route53Io, opts: { dryRun: boolean }): Promise<SyncResult> {
  const hostedZoneId = await io.resolveHostedZone({ id: config.dns.hosted_zone_id, name: config.dns.hosted_zone });
  const recordName = fqdn(config.dns.record_name);
  const owner = ownerPrefix(hostedZoneId, recordName);
  const current = await io.readCurrentState(hostedZoneId, recordName, owner);
  const plan = planSync(desiredState(config), current, owner);
  if (opts.dryRun) return { hostedZoneId, recordName, plan };
  return { hostedZoneId, recordName, plan, applied: await io.apply(hostedZoneId, recordName, plan) };
}

export function isNoop(plan: Plan): boolean {
  return plan.createHealthChecks.length === 0 && plan.changeBatch === null && plan.deleteHealthChecks.length === 0;
}

/** What a dry run prints: the ChangeBatch exactly as it will be sent (new health check Ids are
 * `{{new-health-check:<region>}}` placeholders) and the health-check calls around it. */
export function dryRunReport(result: SyncResult): unknown {
  const { plan } = result;
  return {
    HostedZoneId: result.hostedZoneId,
    CreateHealthChecks: plan.createHealthChecks.map((hc) => ({
      Region: hc.setIdentifier,
      IdPlaceholder: hc.placeholder,
      CallerReference: `${hc.callerReferencePrefix}<nonce>`,
      HealthCheckConfig: hc.config,
    })),
    ChangeBatch: plan.changeBatch,
    DeleteHealthChecks: plan.deleteHealthChecks,
  };
}
