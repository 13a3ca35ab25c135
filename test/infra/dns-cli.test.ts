// The dns:sync command as a user runs it: real argument parsing, config loading, the real AWS SDK
// stack (credential chain, signing, XML) against a local read-only Route 53 endpoint for --dry-run.
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const EXAMPLE = "infra/meridian.example.yaml";

/** No credentials anywhere in the standard chain, and no instance metadata lookups. */
const bareEnv = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? "",
  HOME: "/nonexistent",
  AWS_EC2_METADATA_DISABLED: "true",
  AWS_CONFIG_FILE: "/dev/null",
  AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
  ...extra,
});

async function cli(args: string[], env: Record<string, string> = bareEnv()) {
  try {
    const { stdout, stderr } = await run(process.execPath, ["infra/dns/cli.ts", ...args], { env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const xml = (root: string, body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><${root} xmlns="https://route53.amazonaws.com/doc/2013-04-01/">${body}</${root}>`;

describe("dns:sync command", () => {
  let server: Server;
  let endpoint: string;
  const requests: { method: string; url: string; authorization: string }[] = [];

  beforeAll(async () => {
    // Answers the three reads a dry run makes, for an empty zone; any write would get a 500.
    server = createServer((req, res) => {
      requests.push({
        method: req.method ?? "",
        url: req.url ?? "",
        authorization: String(req.headers.authorization ?? ""),
      });
      const path = new URL(req.url ?? "/", "http://x").pathname;
      res.setHeader("content-type", "text/xml");
      if (req.method === "GET" && path === "/2013-04-01/hostedzone/ZEXAMPLE") {
        res.end(
          xml(
            "GetHostedZoneResponse",
            "<HostedZone><Id>/hostedzone/ZEXAMPLE</Id><Name>example.com.</Name><CallerReference>r</CallerReference><Config><PrivateZone>false</PrivateZone></Config></HostedZone>",
          ),
        );
      } else if (req.method === "GET" && path === "/2013-04-01/hostedzone/ZEXAMPLE/rrset") {
        res.end(
          xml(
            "ListResourceRecordSetsResponse",
            "<ResourceRecordSets></ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>300</MaxItems>",
          ),
        );
      } else if (req.method === "GET" && path === "/2013-04-01/healthcheck") {
        res.end(
          xml(
            "ListHealthChecksResponse",
            "<HealthChecks></HealthChecks><Marker></Marker><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems>",
          ),
        );
      } else if (req.method === "GET" && path.startsWith("/2013-04-01/hostedzone/")) {
        res.statusCode = 404;
        res.end(
          xml(
            "ErrorResponse",
            "<Error><Type>Sender</Type><Code>NoSuchHostedZone</Code><Message>No hosted zone found</Message></Error><RequestId>1</RequestId>",
          ),
        );
      } else {
        res.statusCode = 500;
        res.end(xml("ErrorResponse", "<Error><Code>Unexpected</Code><Message>unexpected request</Message></Error>"));
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    endpoint = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  });

  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function configWithZone(zoneId: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "meridian-dns-"));
    const text = (await readFile(EXAMPLE, "utf8")).replace("hosted_zone: example.com ", `hosted_zone_id: ${zoneId} `);
    const file = join(dir, "deploy.yaml");
    await writeFile(file, text);
    return file;
  }

  const withFakeAws = (extra: Record<string, string> = {}) =>
    bareEnv({
      AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "not-a-secret",
      AWS_ENDPOINT_URL_ROUTE_53: endpoint,
      ...extra,
    });

  it("--dry-run prints the exact ChangeBatch and changes nothing", async () => {
    requests.length = 0;
    const { code, stdout, stderr } = await cli(
      ["--config", await configWithZone("ZEXAMPLE"), "--dry-run"],
      withFakeAws(),
    );
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.HostedZoneId).toBe("ZEXAMPLE");
    expect(report.DeleteHealthChecks).toEqual([]);
    expect(
      report.CreateHealthChecks.map((h: any) => [
        h.Region,
        h.HealthCheckConfig.IPAddress,
        h.HealthCheckConfig.ResourcePath,
      ]),
    ).toEqual([
      ["us-west-2", "203.0.113.10", "/healthz"],
      ["us-east", "198.51.100.20", "/healthz"],
    ]);
    expect(report.ChangeBatch.Changes).toStrictEqual([
      {
        Action: "CREATE",
        ResourceRecordSet: {
          Name: "signal.example.com.",
          Type: "A",
          SetIdentifier: "us-west-2",
          Region: "us-west-2",
          TTL: 60,
          ResourceRecords: [{ Value: "203.0.113.10" }],
          HealthCheckId: "{{new-health-check:us-west-2}}",
        },
      },
      {
        Action: "CREATE",
        ResourceRecordSet: {
          Name: "signal.example.com.",
          Type: "A",
          SetIdentifier: "us-east",
          Region: "us-east-1",
          TTL: 60,
          ResourceRecords: [{ Value: "198.51.100.20" }],
          HealthCheckId: "{{new-health-check:us-east}}",
        },
      },
    ]);
    // Only reads, each signed with the credentials from the standard chain (here: env).
    expect(requests.every((r) => r.method === "GET" && r.authorization.includes("Credential=AKIDEXAMPLE/"))).toBe(true);
    const rrset = requests.find((r) => r.url.includes("/rrset"));
    expect(new URL(rrset!.url, "http://x").searchParams.get("name")).toBe("signal.example.com.");
  });

  it("a missing hosted zone is a clear error", async () => {
    const { code, stderr } = await cli(["--config", await configWithZone("ZMISSING"), "--dry-run"], withFakeAws());
    expect(code).toBe(1);
    expect(stderr).toContain("dns:sync failed: hosted zone ZMISSING does not exist");
  });

  it("without credentials it says so, and never asks for keys", async () => {
    const { code, stderr } = await cli(
      ["--config", EXAMPLE, "--dry-run"],
      bareEnv({ AWS_ENDPOINT_URL_ROUTE_53: endpoint }),
    );
    expect(code).toBe(1);
    expect(stderr).toContain("no AWS credentials found in the standard chain");
  });

  it("invalid config: exit 2 with every issue listed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meridian-dns-"));
    const file = join(dir, "bad.yaml");
    await writeFile(
      file,
      "node_selector:\n  regions: [{name: a, lat: 100, lon: 0}]\ndns:\n  record_name: 'bad name'\n  regions: []\n",
    );
    const { code, stderr } = await cli(["--config", file]);
    expect(code).toBe(2);
    expect(stderr).toContain("node_selector.regions.0.lat");
    expect(stderr).toContain("dns.record_name: must be a DNS hostname");
  });

  it("usage errors exit 2", async () => {
    expect((await cli([])).stderr).toContain("--config is required");
    const bogus = await cli(["--bogus"]);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain("usage: npm run dns:sync");
  });
});
