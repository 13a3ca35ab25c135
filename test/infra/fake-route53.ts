// A stateful stand-in for Route 53 behind aws-sdk-client-mock: it keeps zones, record sets and
// health checks, and enforces the API rules the sync relies on (CREATE of an existing record
// fails, DELETE must match the record exactly, a batch applies all-or-nothing, a health check in
// use cannot be deleted, a CallerReference is never reused, lists are paged). A second sync then
// sees exactly what the first one left, as it would against AWS.
import { isDeepStrictEqual } from "node:util";
import {
  ChangeResourceRecordSetsCommand,
  ChangeTagsForResourceCommand,
  CreateHealthCheckCommand,
  DeleteHealthCheckCommand,
  GetHostedZoneCommand,
  HealthCheckAlreadyExists,
  HealthCheckInUse,
  InvalidChangeBatch,
  ListHealthChecksCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  NoSuchHealthCheck,
  NoSuchHostedZone,
  Route53Client,
  Route53ServiceException,
  type Change,
  type HealthCheck,
  type HealthCheckConfig,
  type ResourceRecordSet,
  type Tag,
} from "@aws-sdk/client-route-53";
import { mockClient } from "aws-sdk-client-mock";

const meta = { $metadata: {} };

/** Route 53 orders names by their labels read right to left. */
const sortKey = (r: ResourceRecordSet) =>
  `${(r.Name ?? "").split(".").reverse().join(".")}\u0000${r.Type ?? ""}\u0000${r.SetIdentifier ?? ""}`;

// Code-unit order, as Route 53 compares (localeCompare would skip the dots).
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class FakeRoute53 {
  readonly mock = mockClient(Route53Client);
  readonly zones = new Map<string, string>();
  readonly records = new Map<string, ResourceRecordSet[]>();
  readonly healthChecks = new Map<string, HealthCheck>();
  readonly tags = new Map<string, Tag[]>();
  private readonly usedReferences = new Set<string>();
  private nextId = 1;
  /** The next this-many calls fail with Route 53's throttling error. */
  throttleNext = 0;
  /** Small pages so the client's paging is exercised. */
  pageSize = 2;

  constructor() {
    const m = this.mock;
    m.onAnyCommand().callsFake((input) => {
      throw new Error(`unexpected Route 53 command: ${JSON.stringify(input)}`);
    });
    m.on(GetHostedZoneCommand).callsFake((i) => this.guard(() => this.getHostedZone(i.Id)));
    m.on(ListHostedZonesByNameCommand).callsFake((i) => this.guard(() => this.listZones(i.DNSName)));
    m.on(ListResourceRecordSetsCommand).callsFake((i) => this.guard(() => this.listRecords(i)));
    m.on(ListHealthChecksCommand).callsFake((i) => this.guard(() => this.listHealthChecks(i.Marker)));
    m.on(CreateHealthCheckCommand).callsFake((i) =>
      this.guard(() => this.createHealthCheck(i.CallerReference, i.HealthCheckConfig)),
    );
    m.on(ChangeTagsForResourceCommand).callsFake((i) =>
      this.guard(() => this.changeTags(i.ResourceId, i.AddTags ?? [])),
    );
    m.on(ChangeResourceRecordSetsCommand).callsFake((i) =>
      this.guard(() => this.changeRecords(i.HostedZoneId, i.ChangeBatch.Changes)),
    );
    m.on(DeleteHealthCheckCommand).callsFake((i) => this.guard(() => this.deleteHealthCheck(i.HealthCheckId)));
  }

  restore(): void {
    this.mock.restore();
  }

  addZone(id: string, name: string): void {
    this.zones.set(id, name);
    this.records.set(id, [
      { Name: name, Type: "NS", TTL: 172800, ResourceRecords: [{ Value: "ns-1.awsdns-00.com." }] },
      {
        Name: name,
        Type: "SOA",
        TTL: 900,
        ResourceRecords: [{ Value: "ns-1.awsdns-00.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400" }],
      },
    ]);
  }

  recordsNamed(zone: string, name: string): ResourceRecordSet[] {
    return (this.records.get(zone) ?? []).filter((r) => r.Name === name);
  }

  private guard<T>(fn: () => T): T {
    if (this.throttleNext > 0) {
      this.throttleNext--;
      throw new Route53ServiceException({ name: "Throttling", $fault: "client", message: "Rate exceeded", ...meta });
    }
    return structuredClone(fn());
  }

  private getHostedZone(id: string) {
    const name = this.zones.get(id);
    if (!name) throw new NoSuchHostedZone({ message: `No hosted zone found with ID: ${id}`, ...meta });
    return {
      HostedZone: { Id: `/hostedzone/${id}`, Name: name, CallerReference: "x", Config: { PrivateZone: false } },
    };
  }

  private listZones(dnsName: string | undefined) {
    const zones = [...this.zones].map(([id, name]) => ({
      Id: `/hostedzone/${id}`,
      Name: name,
      CallerReference: "x",
      Config: { PrivateZone: false },
    }));
    return {
      HostedZones: zones.filter((z) => !dnsName || z.Name >= dnsName).sort((a, b) => byText(a.Name, b.Name)),
      IsTruncated: false,
      MaxItems: 100,
    };
  }

  private listRecords(i: {
    HostedZoneId: string;
    StartRecordName?: string;
    StartRecordType?: string;
    StartRecordIdentifier?: string;
  }) {
    this.getHostedZone(i.HostedZoneId);
    const all = [...(this.records.get(i.HostedZoneId) ?? [])].sort((a, b) => byText(sortKey(a), sortKey(b)));
    const from = i.StartRecordName
      ? sortKey({ Name: i.StartRecordName, Type: i.StartRecordType as never, SetIdentifier: i.StartRecordIdentifier })
      : "";
    const rest = all.filter((r) => sortKey(r) >= from);
    const page = rest.slice(0, this.pageSize);
    const next = rest[this.pageSize];
    return {
      ResourceRecordSets: page,
      IsTruncated: Boolean(next),
      MaxItems: this.pageSize,
      ...(next
        ? {
            NextRecordName: next.Name,
            NextRecordType: next.Type,
            ...(next.SetIdentifier ? { NextRecordIdentifier: next.SetIdentifier } : {}),
          }
        : {}),
    };
  }

  private listHealthChecks(marker: string | undefined) {
    const all = [...this.healthChecks.values()];
    const start = marker ? Number(marker) : 0;
    const end = start + this.pageSize;
    return {
      HealthChecks: all.slice(start, end),
      Marker: marker ?? "",
      IsTruncated: end < all.length,
      MaxItems: this.pageSize,
      ...(end < all.length ? { NextMarker: String(end) } : {}),
    };
  }

  /** Stores the config as AWS echoes it back: with its defaults filled in. */
  createHealthCheck(callerReference: string, config: HealthCheckConfig) {
    if (!callerReference || callerReference.length > 64) throw new Error(`bad CallerReference ${callerReference}`);
    if (this.usedReferences.has(callerReference))
      throw new HealthCheckAlreadyExists({ message: "CallerReference already used", ...meta });
    this.usedReferences.add(callerReference);
    const id = `hc-${String(this.nextId++).padStart(4, "0")}`;
    const hc: HealthCheck = {
      Id: id,
      CallerReference: callerReference,
      HealthCheckConfig: {
        RequestInterval: 30,
        FailureThreshold: 3,
        MeasureLatency: false,
        Inverted: false,
        Disabled: false,
        EnableSNI: config.Type === "HTTPS",
        ...config,
      },
      HealthCheckVersion: 1,
    };
    this.healthChecks.set(id, hc);
    return { HealthCheck: hc, Location: `https://route53.amazonaws.com/2013-04-01/healthcheck/${id}` };
  }

  private changeTags(id: string, add: Tag[]) {
    if (!this.healthChecks.has(id)) throw new NoSuchHealthCheck({ message: id, ...meta });
    this.tags.set(id, [...(this.tags.get(id) ?? []), ...add]);
    return {};
  }

  private changeRecords(zone: string, changes: Change[] | undefined) {
    this.getHostedZone(zone);
    const invalid = (msg: string) => new InvalidChangeBatch({ message: msg, messages: [msg], ...meta });
    const next = [...(this.records.get(zone) ?? [])];
    const same = (a: ResourceRecordSet, b: ResourceRecordSet) =>
      a.Name === b.Name && a.Type === b.Type && (a.SetIdentifier ?? "") === (b.SetIdentifier ?? "");
    for (const c of changes ?? []) {
      const r = c.ResourceRecordSet!;
      const at = next.findIndex((x) => same(x, r));
      if (c.Action === "DELETE") {
        if (at < 0 || !isDeepStrictEqual(next[at], r))
          throw invalid(
            `Tried to delete resource record set [name='${r.Name}', type='${r.Type}'] but the values provided do not match the current values`,
          );
        next.splice(at, 1);
        continue;
      }
      if (r.HealthCheckId && !this.healthChecks.has(r.HealthCheckId))
        throw invalid(`health check ${r.HealthCheckId} does not exist`);
      if (r.SetIdentifier && !r.Region) throw invalid("latency record needs Region");
      if (c.Action === "CREATE" && at >= 0)
        throw invalid(`Tried to create resource record set [name='${r.Name}', type='${r.Type}'] but it already exists`);
      if (at >= 0) next.splice(at, 1, r);
      else next.push(r);
    }
    for (const r of next) {
      if (r.Type === "CNAME" && next.some((o) => o !== r && o.Name === r.Name && o.Type !== "CNAME"))
        throw invalid(
          `RRSet of type CNAME with DNS name ${r.Name} is not permitted as it conflicts with other records`,
        );
    }
    this.records.set(zone, next);
    return { ChangeInfo: { Id: `/change/C${this.nextId++}`, Status: "PENDING", SubmittedAt: new Date(0) } };
  }

  private deleteHealthCheck(id: string) {
    if (!this.healthChecks.has(id))
      throw new NoSuchHealthCheck({ message: `No health check found with ID ${id}`, ...meta });
    const inUse = [...this.records.values()].flat().some((r) => r.HealthCheckId === id);
    if (inUse) throw new HealthCheckInUse({ message: `health check ${id} is still referenced`, ...meta });
    this.healthChecks.delete(id);
    return {};
  }
}
