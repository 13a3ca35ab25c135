// Route 53 I/O for the DNS sync: find the zone, read what exists, apply a Plan. Every call goes
// through withRetry, which owns throttling (the client's own retries are off so there is exactly
// one retry policy, and tests with aws-sdk-client-mock exercise it).
import { randomBytes } from "node:crypto";
import {
  ChangeResourceRecordSetsCommand,
  ChangeTagsForResourceCommand,
  CreateHealthCheckCommand,
  DeleteHealthCheckCommand,
  GetHostedZoneCommand,
  ListHealthChecksCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  type HealthCheck,
  type ResourceRecordSet,
  type Route53Client,
} from "@aws-sdk/client-route-53";
import { fqdn } from "./config.ts";
import { resolvePlaceholders, type CurrentState, type Plan } from "./plan.ts";

export class DnsSyncError extends Error {
  override name = "DnsSyncError";
}

const THROTTLING = new Set([
  "Throttling",
  "ThrottlingException",
  "PriorRequestNotComplete",
  "TooManyRequestsException",
  "RequestLimitExceeded",
]);

export function isThrottling(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return THROTTLING.has(e?.name ?? "") || THROTTLING.has(e?.Code ?? "") || e?.$metadata?.httpStatusCode === 429;
}

export interface RetryOptions {
  attempts: number;
  baseDelayMs: number;
  sleep: (ms: number) => Promise<void>;
}

export const defaultRetry: RetryOptions = {
  attempts: 6,
  baseDelayMs: 500,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** Retries throttled calls with exponential backoff and full jitter (Route 53 allows 5 requests/s
 * per account); anything else, or running out of attempts, surfaces as a clear error. */
export async function withRetry<T>(what: string, fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isThrottling(err)) throw err;
      if (attempt >= opts.attempts) {
        throw new DnsSyncError(
          `Route 53 kept throttling ${what} (${attempt} attempts): ${(err as Error).message}. ` +
            "Another tool may be using the account's API quota; wait a minute and run again (the sync is idempotent).",
        );
      }
      await opts.sleep(Math.random() * opts.baseDelayMs * 2 ** (attempt - 1));
    }
  }
}

export class Route53Io {
  private readonly client: Route53Client;
  private readonly retry: RetryOptions;

  constructor(client: Route53Client, retry: RetryOptions = defaultRetry) {
    this.client = client;
    this.retry = retry;
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(what, fn, this.retry);
  }

  /** The zone's bare Id ("Z123…"); fails clearly when it does not exist or is private. */
  async resolveHostedZone(opts: { id?: string | undefined; name?: string | undefined }): Promise<string> {
    if (opts.id) {
      const id = opts.id.replace(/^\/hostedzone\//, "");
      try {
        const res = await this.call("GetHostedZone", () => this.client.send(new GetHostedZoneCommand({ Id: id })));
        return bareZoneId(res.HostedZone?.Id ?? id);
      } catch (err) {
        if ((err as Error).name === "NoSuchHostedZone")
          throw new DnsSyncError(`hosted zone ${id} does not exist (or these AWS credentials cannot see it)`);
        throw err;
      }
    }
    const name = fqdn(opts.name ?? "");
    const res = await this.call("ListHostedZonesByName", () =>
      this.client.send(new ListHostedZonesByNameCommand({ DNSName: name, MaxItems: 10 })),
    );
    const zones = (res.HostedZones ?? []).filter((z) => fqdn(z.Name ?? "") === name && !z.Config?.PrivateZone);
    if (zones.length === 0)
      throw new DnsSyncError(`no public hosted zone named ${name} (or these AWS credentials cannot see it)`);
    if (zones.length > 1)
      throw new DnsSyncError(`${zones.length} public hosted zones are named ${name}; set dns.hosted_zone_id`);
    return bareZoneId(zones[0]!.Id ?? "");
  }

  async readCurrentState(hostedZoneId: string, recordName: string, owner: string): Promise<CurrentState> {
    return {
      records: await this.listRecordsNamed(hostedZoneId, fqdn(recordName)),
      healthChecks: (await this.listHealthChecks()).filter((hc) => hc.CallerReference?.startsWith(owner)),
    };
  }

  /** Pages from the name onwards; Route 53 sorts by name, so the first other name ends the list. */
  private async listRecordsNamed(zone: string, name: string): Promise<ResourceRecordSet[]> {
    const out: ResourceRecordSet[] = [];
    let start: {
      StartRecordName: string;
      StartRecordType?: ResourceRecordSet["Type"];
      StartRecordIdentifier?: string;
    } = { StartRecordName: name };
    for (let page = 0; page < 1000; page++) {
      const res = await this.call("ListResourceRecordSets", () =>
        this.client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zone, ...start })),
      );
      for (const r of res.ResourceRecordSets ?? []) {
        if (fqdn(r.Name ?? "") !== name) return out;
        out.push(r);
      }
      if (!res.IsTruncated || !res.NextRecordName) return out;
      start = {
        StartRecordName: res.NextRecordName,
        StartRecordType: res.NextRecordType,
        ...(res.NextRecordIdentifier ? { StartRecordIdentifier: res.NextRecordIdentifier } : {}),
      };
    }
    throw new DnsSyncError(`ListResourceRecordSets for ${name} did not end`);
  }

  private async listHealthChecks(): Promise<HealthCheck[]> {
    const out: HealthCheck[] = [];
    let marker: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const res = await this.call("ListHealthChecks", () =>
        this.client.send(new ListHealthChecksCommand(marker ? { Marker: marker } : {})),
      );
      out.push(...(res.HealthChecks ?? []));
      if (!res.IsTruncated || !res.NextMarker) return out;
      marker = res.NextMarker;
    }
    throw new DnsSyncError("ListHealthChecks did not end");
  }

  /** Creates health checks, switches the records in one atomic batch, then deletes the checks
   * nothing references any more (Route 53 refuses to delete a check a record still uses). */
  async apply(
    hostedZoneId: string,
    recordName: string,
    plan: Plan,
  ): Promise<{ createdHealthChecks: string[]; changeId?: string }> {
    const ids = new Map<string, string>();
    for (const hc of plan.createHealthChecks) {
      const callerReference = `${hc.callerReferencePrefix}${Date.now().toString(36)}${randomBytes(4).toString("hex")}`;
      const res = await this.call("CreateHealthCheck", () =>
        this.client.send(
          new CreateHealthCheckCommand({ CallerReference: callerReference, HealthCheckConfig: hc.config }),
        ),
      );
      const id = res.HealthCheck?.Id;
      if (!id) throw new DnsSyncError(`CreateHealthCheck for ${hc.setIdentifier} returned no Id`);
      ids.set(hc.placeholder, id);
      await this.call("ChangeTagsForResource", () =>
        this.client.send(
          new ChangeTagsForResourceCommand({
            ResourceType: "healthcheck",
            ResourceId: id,
            AddTags: [{ Key: "Name", Value: `meridian ${fqdn(recordName)} ${hc.setIdentifier}` }],
          }),
        ),
      );
    }
    let changeId: string | undefined;
    if (plan.changeBatch) {
      const batch = resolvePlaceholders(plan.changeBatch, ids);
      const res = await this.call("ChangeResourceRecordSets", () =>
        this.client.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: hostedZoneId, ChangeBatch: batch })),
      );
      changeId = res.ChangeInfo?.Id;
    }
    for (const id of plan.deleteHealthChecks) {
      try {
        await this.call("DeleteHealthCheck", () =>
          this.client.send(new DeleteHealthCheckCommand({ HealthCheckId: id })),
        );
      } catch (err) {
        // Already gone is the state we want.
        if ((err as Error).name !== "NoSuchHealthCheck") throw err;
      }
    }
    return { createdHealthChecks: [...ids.values()], ...(changeId ? { changeId } : {}) };
  }
}

function bareZoneId(id: string): string {
  return id.replace(/^\/hostedzone\//, "");
}
