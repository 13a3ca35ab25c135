// One deploy config (shared/deploy-config.ts) read by every component: the shipped example is the
// seed's, the media node takes its section and checks its region, the Worker's vars and the dev
// cluster's layout come from it, and a bad file is refused with every issue named.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { settings, type Env } from "../../control-plane/src/env.ts";
import { parseClientLocation } from "../../control-plane/src/routes/cf.ts";
import { parseDeployConfig } from "../../infra/dns/config.ts";
import { devApiKeys, devLayout } from "../../infra/local/dev-settings.ts";
import { workerVars, wranglerDeployArgs } from "../../infra/worker-vars.ts";
import { ConfigError, loadConfig } from "../../media-node/src/config.ts";
import { EXAMPLE_DEPLOY_FILE, DeployFileError, loadDeployFile, parseDeployFile } from "#shared/deploy-config.ts";

const SEED_REGIONS = [
  { name: "us-west-2", lat: 37.64046607830567, lon: -120.88026233189062 },
  { name: "us-east", lat: 40.68914362140307, lon: -74.04445748616385 },
];
const dir = mkdtempSync(join(tmpdir(), "meridian-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe("the shipped example", () => {
  const example = loadDeployFile(EXAMPLE_DEPLOY_FILE);

  it("is the seed's config.yaml: node_selector regionaware, sysload_limit 0.5, its two regions exactly", () => {
    expect(example.node_selector).toMatchObject({ kind: "regionaware", sysload_limit: 0.5, regions: SEED_REGIONS });
  });

  it("passes the DNS tool's checks too (its dns section names the same regions)", () => {
    const withDns = parseDeployConfig(example);
    expect(withDns.dns.regions.map((r) => r.name)).toEqual(["us-west-2", "us-east"]);
  });

  it("becomes the Worker's vars: NODE_SELECTOR, CASCADE, DEFAULT_REGION, JOIN_TOKEN_TTL, AUTO_CREATE", () => {
    const vars = workerVars(example);
    expect(JSON.parse(vars.NODE_SELECTOR)).toEqual(example.node_selector);
    expect(JSON.parse(vars.CASCADE)).toEqual(example.cascade);
    expect(vars).toMatchObject({ DEFAULT_REGION: "us-east", JOIN_TOKEN_TTL: "600", AUTO_CREATE: "true" });
    expect(vars).not.toHaveProperty("TRUST_CLIENT_LOCATION");
    // ...which the Worker accepts as they are.
    const s = settings({
      ...vars,
      API_KEYS: "k:s",
      UPSTASH_REDIS_REST_URL: "http://x",
      UPSTASH_REDIS_REST_TOKEN: "t",
    } as Env);
    expect(s.selector.regions).toEqual(SEED_REGIONS);
    expect(s.defaultRegion).toBe("us-east");
    expect(s.trustClientLocation).toBe(false);
    expect(s.cascade).toEqual(example.cascade);
    const args = wranglerDeployArgs(example, "production", ["--dry-run"]);
    expect(args.slice(0, 3)).toEqual(["deploy", "--env", "production"]);
    expect(args).toContain(`NODE_SELECTOR:${vars.NODE_SELECTOR}`);
    expect(args.at(-1)).toBe("--dry-run");
  });

  it("lays out the dev cluster: the seed's regions, one node each plus a second in the default region", () => {
    expect(devLayout(example)).toEqual({
      regions: SEED_REGIONS,
      defaultRegion: "us-east",
      nodes: [
        { nodeId: "us-west-2-a", region: "us-west-2" },
        { nodeId: "us-east-a", region: "us-east" },
        { nodeId: "us-east-b", region: "us-east" },
      ],
    });
  });
});

describe("the media node reads it (MERIDIAN_CONFIG)", () => {
  const env = { API_KEYS: "k:secret", MERIDIAN_CONFIG: EXAMPLE_DEPLOY_FILE };

  it("takes its media_node section, the environment winning", () => {
    const path = file(
      "node.yaml",
      "node_selector:\n  regions: [{name: a, lat: 1, lon: 2}]\nmedia_node:\n  http_port: 9000\n  rtc_port: 9100\n",
    );
    const c = loadConfig({ ...env, MERIDIAN_CONFIG: path, REGION: "a", RTC_PORT: "9200" });
    expect(c).toMatchObject({ region: "a", http_port: 9000, rtc_port: 9200 });
  });

  it("refuses a region the file's node_selector does not name", () => {
    expect(() => loadConfig({ ...env, REGION: "eu-west" })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, REGION: "eu-west" })).toThrow(
      /region eu-west is not a node_selector region .*us-west-2, us-east/,
    );
    expect(loadConfig({ ...env, REGION: "us-west-2" }).region).toBe("us-west-2");
  });

  it("refuses a bad file with a ConfigError naming it", () => {
    expect(() => loadConfig({ ...env, MERIDIAN_CONFIG: join(dir, "missing.yaml") })).toThrow(
      /cannot read .*missing\.yaml/,
    );
    expect(() => loadConfig({ ...env, MERIDIAN_CONFIG: file("bad.yaml", "node_selector: [") })).toThrow(
      /not valid YAML/,
    );
    expect(() => loadConfig({ ...env, MERIDIAN_CONFIG: file("typo.yaml", "media_node:\n  http_prot: 1\n") })).toThrow(
      /unknown media_node key\(s\) http_prot/,
    );
  });
});

describe("validation", () => {
  it("lists every issue with its path, across sections", () => {
    const raw = {
      node_selector: {
        kind: "nearest",
        regions: [
          { name: "a", lat: 100, lon: 0 },
          { name: "a", lat: 0, lon: 0 },
        ],
      },
      control_plane: { default_region: "b", join_token_ttl: 5 },
      mediasoup: {},
    };
    let message = "";
    try {
      parseDeployFile(raw, "deploy.yaml");
    } catch (e) {
      expect(e).toBeInstanceOf(DeployFileError);
      message = (e as Error).message;
    }
    expect(message).toContain("invalid deploy.yaml");
    for (const path of ["node_selector.kind", "node_selector.regions.0.lat", "control_plane.join_token_ttl", "(root)"])
      expect(message).toContain(path);
  });

  it("names an unknown key in the sections it owns", () => {
    expect(() => parseDeployFile({ control_plane: { defaultRegion: "a" } })).toThrow(
      /control_plane: Unrecognized key: "defaultRegion"/,
    );
    const dns = {
      record_name: "signal.example.com",
      hosted_zone: "example.com",
      regions: [{ name: "a", aws_region: "us-east-1", endpoint: "192.0.2.1", heath_check: {} }],
    };
    expect(() => parseDeployConfig({ node_selector: { regions: [{ name: "a", lat: 0, lon: 0 }] }, dns })).toThrow(
      /dns\.regions\.0: Unrecognized key: "heath_check"/,
    );
  });

  it("cross-checks regions: unique names, the default region among them", () => {
    expect(() =>
      parseDeployFile({
        node_selector: {
          regions: [
            { name: "a", lat: 0, lon: 0 },
            { name: "a", lat: 1, lon: 1 },
          ],
        },
      }),
    ).toThrow(/node_selector\.regions\.1\.name: duplicate region a/);
    expect(() =>
      parseDeployFile({
        node_selector: { regions: [{ name: "a", lat: 0, lon: 0 }] },
        control_plane: { default_region: "b" },
      }),
    ).toThrow(/control_plane\.default_region: b is not a node_selector region \(a\)/);
  });

  it("an empty file is the defaults (no regions)", () => {
    expect(parseDeployFile(null).node_selector).toMatchObject({ kind: "regionaware", regions: [] });
  });
});

describe("dev cluster API keys", () => {
  it("honours MERIDIAN_API_KEY + MERIDIAN_API_SECRET, then API_KEYS, else generates a pair", () => {
    expect(devApiKeys({ MERIDIAN_API_KEY: "app", MERIDIAN_API_SECRET: "s3cret" })).toEqual({
      apiKeys: "app:s3cret",
      generated: false,
    });
    expect(devApiKeys({ API_KEYS: "a:1,b:2" })).toEqual({ apiKeys: "a:1,b:2", generated: false });
    const g = devApiKeys({});
    expect(g.generated).toBe(true);
    expect(g.apiKeys).toMatch(/^dev:[\w-]{32}$/);
    expect(devApiKeys({}).apiKeys).not.toBe(g.apiKeys);
    expect(() => devApiKeys({ MERIDIAN_API_KEY: "app" })).toThrow(/both MERIDIAN_API_KEY and MERIDIAN_API_SECRET/);
  });
});

describe("TRUST_CLIENT_LOCATION and the location header", () => {
  const base = { API_KEYS: "k:s", UPSTASH_REDIS_REST_URL: "http://x", UPSTASH_REDIS_REST_TOKEN: "t" };
  it('is off unless exactly "true"; anything but true/false is a misconfiguration', () => {
    expect(settings({ ...base }).trustClientLocation).toBe(false);
    expect(settings({ ...base, TRUST_CLIENT_LOCATION: "false" }).trustClientLocation).toBe(false);
    expect(settings({ ...base, TRUST_CLIENT_LOCATION: "true" }).trustClientLocation).toBe(true);
    expect(() => settings({ ...base, TRUST_CLIENT_LOCATION: "yes" })).toThrow(/TRUST_CLIENT_LOCATION/);
  });

  it.each([
    ["40.68914362140307,-74.04445748616385", { latitude: "40.68914362140307", longitude: "-74.04445748616385" }],
    [" -33.9 , 151.2 ", { latitude: "-33.9", longitude: "151.2" }],
    ["90,180", { latitude: "90", longitude: "180" }],
    ["90.5,0", undefined],
    ["0,-180.01", undefined],
    ["1e1,2", undefined],
    ["1,2,3", undefined],
    ["", undefined],
    ["1.123456789012345678901,2", undefined],
  ])("parses %j", (value, want) => {
    expect(parseClientLocation(value)).toEqual(want);
  });
});
