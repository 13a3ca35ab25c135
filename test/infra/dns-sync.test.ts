// Route 53 sync against a stateful aws-sdk-client-mock fake (test/infra/fake-route53.ts).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  ChangeResourceRecordSetsCommand,
  ChangeTagsForResourceCommand,
  CreateHealthCheckCommand,
  DeleteHealthCheckCommand,
  Route53Client,
} from "@aws-sdk/client-route-53";
import { parseDeployConfig, type DeployConfig } from "../../infra/dns/config.ts";
import {
  desiredState,
  ownerPrefix,
  planSync,
  placeholderFor,
  PlanError,
  regionReferencePrefix,
} from "../../infra/dns/plan.ts";
import { DnsSyncError, Route53Io, type RetryOptions } from "../../infra/dns/route53.ts";
import { dryRunReport, isNoop, syncDns } from "../../infra/dns/sync.ts";
import { FakeRoute53 } from "./fake-route53.ts";

const ZONE = "Z0123456789ABCDEFGHIJ";
const NAME = "signal.example.com.";

interface RegionSpec {
  name: string;
  aws: string;
  endpoint: string;
  lat?: number;
  port?: number;
}

const US: RegionSpec = { name: "us-east", aws: "us-east-1", endpoint: "203.0.113.10" };
const EU: RegionSpec = { name: "eu-central", aws: "eu-central-1", endpoint: "198.51.100.20" };
const AP: RegionSpec = { name: "ap-south", aws: "ap-south-1", endpoint: "2001:DB8:0::7" };

function config(regions: RegionSpec[], extra: Record<string, unknown> = {}): DeployConfig {
  return parseDeployConfig({
    node_selector: {
      regions: regions.map((r, i) => ({
        name: r.name,
        lat: r.lat ?? i,
        lon: i,
        signal_url: `wss://${extra.record_name ?? "signal.example.com"}`,
      })),
    },
    dns: {
      hosted_zone_id: ZONE,
      record_name: "signal.example.com",
      regions: regions.map((r) => ({
        name: r.name,
        aws_region: r.aws,
        endpoint: r.endpoint,
        ...(r.port ? { health_check: { port: r.port } } : {}),
      })),
      ...extra,
    },
  });
}

const noSleep: RetryOptions = { attempts: 4, baseDelayMs: 1, sleep: async () => {} };

let fake: FakeRoute53;
let io: Route53Io;

beforeEach(() => {
  fake = new FakeRoute53();
  fake.addZone(ZONE, "example.com.");
  // Neighbours in the zone: the sync must see past them (paging) and never touch them.
  fake.records
    .get(ZONE)!
    .push(
      { Name: "a.signal.example.com.", Type: "A", TTL: 300, ResourceRecords: [{ Value: "192.0.2.1" }] },
      { Name: "www.example.com.", Type: "CNAME", TTL: 300, ResourceRecords: [{ Value: "example.com." }] },
    );
  io = new Route53Io(
    new Route53Client({ region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } }),
    noSleep,
  );
});

afterEach(() => fake.restore());

const writes = () => ({
  createHealthCheck: fake.mock.commandCalls(CreateHealthCheckCommand).length,
  changeRecords: fake.mock.commandCalls(ChangeResourceRecordSetsCommand).length,
  deleteHealthCheck: fake.mock.commandCalls(DeleteHealthCheckCommand).length,
});

describe("deploy config", () => {
  const bad = (patch: (raw: any) => void) => {
    const raw: any = {
      node_selector: { regions: [{ name: "us-east", lat: 1, lon: 1, signal_url: "wss://signal.example.com" }] },
      dns: {
        hosted_zone: "example.com",
        record_name: "signal.example.com",
        regions: [{ name: "us-east", aws_region: "us-east-1", endpoint: "203.0.113.1" }],
      },
    };
    patch(raw);
    return () => parseDeployConfig(raw);
  };

  it("accepts the valid shape and fills defaults", () => {
    const cfg = bad(() => {})();
    expect(cfg.dns.ttl).toBe(60);
    expect(cfg.node_selector.kind).toBe("regionaware");
  });

  it("lists each problem with its path", () => {
    expect(bad((r) => (r.dns.regions[0].name = "mars"))).toThrow(
      /dns\.regions\.0\.name: mars is not a node_selector region \(us-east\)/,
    );
    expect(bad((r) => r.dns.regions.push(r.dns.regions[0]))).toThrow(/duplicate region us-east/);
    expect(bad((r) => delete r.dns.hosted_zone)).toThrow(/set hosted_zone_id or hosted_zone/);
    expect(bad((r) => (r.dns.record_name = "signal.other.org"))).toThrow(/not inside zone example\.com/);
    expect(bad((r) => (r.node_selector.regions[0].signal_url = "wss://elsewhere.example.com"))).toThrow(
      /node_selector\.regions\.0\.signal_url: host must be dns\.record_name/,
    );
    expect(bad((r) => (r.dns.regions[0].aws_region = "mars-1"))).toThrow(/dns\.regions\.0\.aws_region/);
    expect(bad((r) => (r.dns.regions[0].endpoint = "not a host!"))).toThrow(/must be an IP address or a hostname/);
    expect(bad((r) => (r.dns.health_check = { request_interval: 15 }))).toThrow(/dns\.health_check\.request_interval/);
    expect(
      bad((r) => {
        r.node_selector.regions.push({ name: "eu", lat: 2, lon: 2 });
        r.dns.regions.push({ name: "eu", aws_region: "eu-west-1", endpoint: "lb.eu.example.net" });
      }),
    ).toThrow(/all IP addresses or all hostnames/);
  });
});

describe("planning", () => {
  it("builds latency records and health checks in the AWS API shape", () => {
    const plan = planSync(desiredState(config([US, AP])), { records: [], healthChecks: [] }, ownerPrefix(ZONE, NAME));
    expect(plan.deleteHealthChecks).toEqual([]);
    expect(plan.createHealthChecks).toHaveLength(2);
    const [hcUs, hcAp] = plan.createHealthChecks;
    expect(hcUs!.setIdentifier).toBe("us-east");
    expect(hcUs!.placeholder).toBe(placeholderFor("us-east"));
    expect(hcUs!.callerReferencePrefix).toMatch(/^meridian:[0-9a-f]{8}:[0-9a-f]{8}:$/);
    expect(hcUs!.config).toStrictEqual({
      Type: "HTTPS",
      IPAddress: "203.0.113.10",
      FullyQualifiedDomainName: "signal.example.com",
      Port: 443,
      ResourcePath: "/healthz",
      RequestInterval: 30,
      FailureThreshold: 3,
      EnableSNI: true,
    });
    // IPv6 endpoints are written in canonical form.
    expect(hcAp!.config.IPAddress).toBe("2001:db8::7");

    const batch = plan.changeBatch!;
    expect(batch.Comment).toBe("meridian dns sync: signal.example.com.");
    expect(batch.Changes).toHaveLength(2);
    const [us, ap] = batch.Changes!;
    expect(us!.Action).toBe("CREATE");
    expect(us!.ResourceRecordSet).toStrictEqual({
      Name: "signal.example.com.",
      Type: "A",
      SetIdentifier: "us-east",
      Region: "us-east-1",
      TTL: 60,
      ResourceRecords: [{ Value: "203.0.113.10" }],
      HealthCheckId: "{{new-health-check:us-east}}",
    });
    expect(ap!.Action).toBe("CREATE");
    expect(ap!.ResourceRecordSet).toStrictEqual({
      Name: "signal.example.com.",
      Type: "AAAA",
      SetIdentifier: "ap-south",
      Region: "ap-south-1",
      TTL: 60,
      ResourceRecords: [{ Value: "2001:db8::7" }],
      HealthCheckId: "{{new-health-check:ap-south}}",
    });
  });

  it("routes hostnames with CNAME records and checks the hostname itself", () => {
    const cfg = config([{ ...US, endpoint: "LB-1.us-east-1.elb.amazonaws.com" }], {
      health_check: { protocol: "HTTP", port: 7880, request_interval: 10 },
    });
    const [region] = desiredState(cfg);
    expect(region!.record.Type).toBe("CNAME");
    expect(region!.record.ResourceRecords).toStrictEqual([{ Value: "lb-1.us-east-1.elb.amazonaws.com." }]);
    expect(region!.healthCheck).toStrictEqual({
      Type: "HTTP",
      FullyQualifiedDomainName: "lb-1.us-east-1.elb.amazonaws.com",
      Port: 7880,
      ResourcePath: "/healthz",
      RequestInterval: 10,
      FailureThreshold: 3,
    });
  });

  it("refuses to mix with a non-latency record at the same name", () => {
    const plain = { Name: NAME, Type: "A" as const, TTL: 60, ResourceRecords: [{ Value: "192.0.2.9" }] };
    expect(() => planSync(desiredState(config([US])), { records: [plain], healthChecks: [] }, "meridian:x:")).toThrow(
      PlanError,
    );
  });
});

describe("sync against Route 53 (aws-sdk-client-mock)", () => {
  it("first sync creates one record and health check per region, tagged and referenced", async () => {
    const result = await syncDns(config([US, EU]), io, { dryRun: false });
    expect(result.hostedZoneId).toBe(ZONE);
    expect(writes()).toEqual({ createHealthCheck: 2, changeRecords: 1, deleteHealthCheck: 0 });

    const created = fake.mock.commandCalls(CreateHealthCheckCommand).map((c) => c.args[0].input);
    const owner = ownerPrefix(ZONE, NAME);
    for (const input of created) {
      expect(input.CallerReference!.startsWith(owner)).toBe(true);
      expect(input.CallerReference!.length).toBeLessThanOrEqual(64);
    }
    expect(created.map((c) => c.HealthCheckConfig!.IPAddress)).toEqual(["203.0.113.10", "198.51.100.20"]);
    const tags = fake.mock.commandCalls(ChangeTagsForResourceCommand).map((c) => c.args[0].input);
    expect(tags.map((t) => [t.ResourceType, t.AddTags])).toEqual([
      ["healthcheck", [{ Key: "Name", Value: "meridian signal.example.com. us-east" }]],
      ["healthcheck", [{ Key: "Name", Value: "meridian signal.example.com. eu-central" }]],
    ]);

    const sent = fake.mock.commandCalls(ChangeResourceRecordSetsCommand)[0]!.args[0].input;
    expect(sent.HostedZoneId).toBe(ZONE);
    expect(sent.ChangeBatch!.Changes!.map((c) => c.Action)).toEqual(["CREATE", "CREATE"]);
    const hcIds = result.applied!.createdHealthChecks;
    expect(sent.ChangeBatch!.Changes!.map((c) => c.ResourceRecordSet!.HealthCheckId)).toEqual(hcIds);

    const stored = fake.recordsNamed(ZONE, NAME);
    expect(stored.map((r) => [r.SetIdentifier, r.Region, r.Type, r.ResourceRecords![0]!.Value])).toEqual([
      ["us-east", "us-east-1", "A", "203.0.113.10"],
      ["eu-central", "eu-central-1", "A", "198.51.100.20"],
    ]);
    expect([...fake.healthChecks.keys()].sort()).toEqual([...hcIds].sort());
  });

  it("second sync changes nothing", async () => {
    await syncDns(config([US, EU, AP]), io, { dryRun: false });
    fake.mock.resetHistory();
    const second = await syncDns(config([US, EU, AP]), io, { dryRun: false });
    expect(isNoop(second.plan)).toBe(true);
    expect(writes()).toEqual({ createHealthCheck: 0, changeRecords: 0, deleteHealthCheck: 0 });
  });

  it("removing a region deletes its record, then its health check", async () => {
    await syncDns(config([US, EU]), io, { dryRun: false });
    const euRecord = fake.recordsNamed(ZONE, NAME).find((r) => r.SetIdentifier === "eu-central")!;
    fake.mock.resetHistory();

    await syncDns(config([US]), io, { dryRun: false });
    const batch = fake.mock.commandCalls(ChangeResourceRecordSetsCommand)[0]!.args[0].input.ChangeBatch!;
    expect(batch.Changes).toStrictEqual([{ Action: "DELETE", ResourceRecordSet: euRecord }]);
    const deleted = fake.mock.commandCalls(DeleteHealthCheckCommand).map((c) => c.args[0].input.HealthCheckId);
    expect(deleted).toEqual([euRecord.HealthCheckId]);
    expect(fake.recordsNamed(ZONE, NAME).map((r) => r.SetIdentifier)).toEqual(["us-east"]);
    expect(fake.healthChecks.has(euRecord.HealthCheckId!)).toBe(false);
    // Neighbouring records are untouched.
    expect(fake.recordsNamed(ZONE, "a.signal.example.com.")).toHaveLength(1);

    fake.mock.resetHistory();
    await syncDns(config([]), io, { dryRun: false });
    expect(fake.recordsNamed(ZONE, NAME)).toEqual([]);
    expect(fake.healthChecks.size).toBe(0);
  });

  it("a changed health check is replaced: create, UPSERT the record onto it, delete the old one", async () => {
    await syncDns(config([US, EU]), io, { dryRun: false });
    const oldId = fake.recordsNamed(ZONE, NAME).find((r) => r.SetIdentifier === "us-east")!.HealthCheckId!;
    fake.mock.resetHistory();

    const result = await syncDns(config([{ ...US, port: 8443 }, EU]), io, { dryRun: false });
    const [newId] = result.applied!.createdHealthChecks;
    expect(fake.healthChecks.get(newId!)!.HealthCheckConfig!.Port).toBe(8443);
    const batch = fake.mock.commandCalls(ChangeResourceRecordSetsCommand)[0]!.args[0].input.ChangeBatch!;
    expect(
      batch.Changes!.map((c) => [c.Action, c.ResourceRecordSet!.SetIdentifier, c.ResourceRecordSet!.HealthCheckId]),
    ).toEqual([["UPSERT", "us-east", newId]]);
    expect(fake.mock.commandCalls(DeleteHealthCheckCommand).map((c) => c.args[0].input.HealthCheckId)).toEqual([oldId]);
  });

  it("switching endpoints from addresses to hostnames deletes the A records before creating CNAMEs", async () => {
    await syncDns(config([US, EU]), io, { dryRun: false });
    fake.mock.resetHistory();
    await syncDns(
      config([
        { ...US, endpoint: "lb.us.example.net" },
        { ...EU, endpoint: "lb.eu.example.net" },
      ]),
      io,
      { dryRun: false },
    );
    const batch = fake.mock.commandCalls(ChangeResourceRecordSetsCommand)[0]!.args[0].input.ChangeBatch!;
    expect(batch.Changes!.map((c) => `${c.Action} ${c.ResourceRecordSet!.Type}`)).toEqual([
      "DELETE A",
      "DELETE A",
      "CREATE CNAME",
      "CREATE CNAME",
    ]);
    expect(fake.recordsNamed(ZONE, NAME).map((r) => r.Type)).toEqual(["CNAME", "CNAME"]);
    expect(fake.healthChecks.size).toBe(2);
  });

  it("adopts a health check left by a run that died before its ChangeBatch; deletes stale orphans", async () => {
    const owner = ownerPrefix(ZONE, NAME);
    const [us] = desiredState(config([US]));
    const left = fake.createHealthCheck(`${regionReferencePrefix(owner, "us-east")}crashed`, us!.healthCheck)
      .HealthCheck.Id!;
    const stale = fake.createHealthCheck(`${regionReferencePrefix(owner, "gone")}old`, { ...us!.healthCheck, Port: 1 })
      .HealthCheck.Id!;
    const foreign = fake.createHealthCheck("someone-else", us!.healthCheck).HealthCheck.Id!;

    await syncDns(config([US]), io, { dryRun: false });
    expect(writes().createHealthCheck).toBe(0);
    expect(fake.recordsNamed(ZONE, NAME)[0]!.HealthCheckId).toBe(left);
    expect(fake.healthChecks.has(stale)).toBe(false);
    expect(fake.healthChecks.has(foreign)).toBe(true);
  });

  it("dry run reads but writes nothing and prints the batch with placeholders", async () => {
    const result = await syncDns(config([US]), io, { dryRun: true });
    expect(writes()).toEqual({ createHealthCheck: 0, changeRecords: 0, deleteHealthCheck: 0 });
    expect(fake.mock.commandCalls(ChangeTagsForResourceCommand)).toHaveLength(0);
    const report = dryRunReport(result) as any;
    expect(report.HostedZoneId).toBe(ZONE);
    expect(report.ChangeBatch.Changes[0].ResourceRecordSet.HealthCheckId).toBe("{{new-health-check:us-east}}");
    expect(report.CreateHealthChecks[0]).toMatchObject({
      Region: "us-east",
      IdPlaceholder: "{{new-health-check:us-east}}",
    });
    expect(report.CreateHealthChecks[0].CallerReference).toMatch(/^meridian:[0-9a-f]{8}:[0-9a-f]{8}:<nonce>$/);
  });

  it("resolves the zone by name", async () => {
    const result = await syncDns(config([US], { hosted_zone_id: undefined, hosted_zone: "example.com" }), io, {
      dryRun: true,
    });
    expect(result.hostedZoneId).toBe(ZONE);
  });

  it("missing hosted zone: a clear error, nothing written", async () => {
    await expect(syncDns(config([US], { hosted_zone_id: "ZNOPE" }), io, { dryRun: false })).rejects.toThrow(
      new DnsSyncError("hosted zone ZNOPE does not exist (or these AWS credentials cannot see it)"),
    );
    await expect(
      syncDns(
        config([US], { hosted_zone_id: undefined, hosted_zone: "example.org", record_name: "signal.example.org" }),
        io,
        { dryRun: false },
      ),
    ).rejects.toThrow(/no public hosted zone named example\.org\./);
    expect(writes()).toEqual({ createHealthCheck: 0, changeRecords: 0, deleteHealthCheck: 0 });
  });

  it("retries throttling with backoff and succeeds", async () => {
    const delays: number[] = [];
    io = new Route53Io(new Route53Client({ region: "us-east-1" }), {
      attempts: 4,
      baseDelayMs: 100,
      sleep: async (ms) => void delays.push(ms),
    });
    fake.throttleNext = 3;
    await syncDns(config([US]), io, { dryRun: false });
    expect(delays).toHaveLength(3);
    for (const [i, d] of delays.entries()) expect(d).toBeLessThanOrEqual(100 * 2 ** i);
    expect(fake.recordsNamed(ZONE, NAME)).toHaveLength(1);
  });

  it("persistent throttling ends with a clear error", async () => {
    fake.throttleNext = 1_000;
    await expect(syncDns(config([US]), io, { dryRun: false })).rejects.toThrow(
      /Route 53 kept throttling GetHostedZone \(4 attempts\): Rate exceeded/,
    );
    expect(writes()).toEqual({ createHealthCheck: 0, changeRecords: 0, deleteHealthCheck: 0 });
  });

  it("any sequence of configs converges, and syncing again is a no-op", async () => {
    const pool = [US, EU, AP, { name: "sa-east", aws: "sa-east-1", endpoint: "192.0.2.77" }];
    const step = fc.record({
      regions: fc.subarray(pool),
      port: fc.constantFrom(443, 8443),
      ttl: fc.constantFrom(30, 60),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 4 }), async (steps) => {
        for (const s of steps) {
          const cfg = config(
            s.regions.map((r) => ({ ...r, port: s.port })),
            { ttl: s.ttl },
          );
          await syncDns(cfg, io, { dryRun: false });
          const again = await syncDns(cfg, io, { dryRun: true });
          expect(isNoop(again.plan)).toBe(true);
          const stored = fake.recordsNamed(ZONE, NAME);
          expect(stored.map((r) => r.SetIdentifier).sort()).toEqual(s.regions.map((r) => r.name).sort());
          expect(
            stored.every(
              (r) => r.TTL === s.ttl && fake.healthChecks.get(r.HealthCheckId!)?.HealthCheckConfig?.Port === s.port,
            ),
          ).toBe(true);
          expect(fake.healthChecks.size).toBe(s.regions.length);
        }
      }),
      { numRuns: 25 },
    );
  });
});
