import { describe, expect, it } from "vitest";
import { NodeSelectorConfig, type GeoPoint } from "#shared/config.ts";
import { STATS_FRESHNESS_MS } from "#shared/node.ts";
import {
  haversineMeters,
  referencePoint,
  regionPreference,
  seededRng,
  selectNode,
  type Candidate,
} from "#shared/selector/index.ts";
import { NEW_YORK, PARIS, REGIONS, SINGAPORE, nodeRecord, type NodeSpec } from "../support/nodes.ts";

const NOW = 1_800_000_000_000;
type Cfg = Partial<NodeSelectorConfig>;

/** from: client location; null = none known. */
function choose(
  specs: readonly (NodeSpec & { reserved?: number })[],
  cfg: Cfg,
  from: GeoPoint | null = NEW_YORK,
  seed = 1,
) {
  const config = NodeSelectorConfig.parse({ kind: "regionaware", sort_by: "sysload", regions: REGIONS, ...cfg });
  const cands: Candidate[] = specs.map(({ reserved = 0, ...s }) => ({ node: nodeRecord(s, NOW), reserved }));
  const picked = selectNode(cands, {
    config,
    now: NOW,
    regionOrder: regionPreference(config.regions, from ?? undefined),
    rng: seededRng(seed),
  });
  return picked?.node.id;
}

describe("haversine and region preference", () => {
  it("measures known distances (radius 6,378,100 m like LiveKit)", () => {
    expect(haversineMeters({ lat: 0, lon: 0 }, { lat: 0, lon: 0 })).toBe(0);
    // quarter of the equator
    expect(haversineMeters({ lat: 0, lon: 0 }, { lat: 0, lon: 90 })).toBeCloseTo((Math.PI / 2) * 6_378_100, 3);
    // antipodes: clamped, no NaN
    expect(haversineMeters({ lat: 0, lon: 0 }, { lat: 0, lon: 180 })).toBeCloseTo(Math.PI * 6_378_100, 3);
  });
  it.each([
    [NEW_YORK, ["us-east", "eu-west", "ap-south"]],
    [PARIS, ["eu-west", "us-east", "ap-south"]],
    [SINGAPORE, ["ap-south", "eu-west", "us-east"]],
  ])("orders regions nearest first from %o", (p, order) => {
    expect(regionPreference(REGIONS, p)).toEqual(order);
  });
  it("breaks distance ties by name and returns nothing without a reference point", () => {
    const twins = [
      { name: "b", lat: 10, lon: 10 },
      { name: "a", lat: 10, lon: 10 },
    ];
    expect(regionPreference(twins, { lat: 0, lon: 0 })).toEqual(["a", "b"]);
    expect(regionPreference(REGIONS, undefined)).toEqual([]);
  });
});

describe("reference point", () => {
  it.each([
    ["cf strings", { latitude: "48.86", longitude: "2.35" }, "us-east", PARIS],
    ["cf numbers", { latitude: 1.35, longitude: 103.82 }, "us-east", SINGAPORE],
    ["no cf → default region", undefined, "eu-west", { lat: 53.35, lon: -6.26 }],
    ["garbage cf → default region", { latitude: "north", longitude: "" }, "us-east", { lat: 39.04, lon: -77.49 }],
    ["out of range → default", { latitude: "91", longitude: "0" }, "us-east", { lat: 39.04, lon: -77.49 }],
    ["half a location → default", { latitude: "10" }, "us-east", { lat: 39.04, lon: -77.49 }],
    ["nothing known", undefined, "mars", undefined],
    ["no default", undefined, undefined, undefined],
  ] as const)("%s", (_name, cf, def, expected) => {
    expect(referencePoint(cf, REGIONS, def)).toEqual(expected);
  });
});

describe("eligibility (every kind)", () => {
  const kinds = ["any", "random", "sysload", "cpuload", "regionaware"] as const;
  it.each(kinds)("%s: never a DRAINING node, even the least loaded", (kind) => {
    expect(
      choose(
        [
          { id: "d", state: "DRAINING" },
          { id: "s", sysload: 0.4, cpuLoad: 0.4 },
        ],
        { kind },
      ),
    ).toBe("s");
    expect(choose([{ id: "d", state: "DRAINING" }], { kind })).toBeUndefined();
  });
  it.each(kinds)("%s: never stale stats (≥ %d ms old)", (kind) => {
    const stale = NOW - STATS_FRESHNESS_MS;
    expect(
      choose(
        [
          { id: "old", updatedAt: stale },
          { id: "new", sysload: 0.4, cpuLoad: 0.4 },
        ],
        { kind },
      ),
    ).toBe("new");
    expect(choose([{ id: "old", updatedAt: stale }], { kind })).toBeUndefined();
    expect(choose([{ id: "edge", updatedAt: stale + 1 }], { kind })).toBe("edge");
  });
  it.each(kinds)("%s: no nodes → undefined", (kind) => {
    expect(choose([], { kind })).toBeUndefined();
  });
});

describe("regionaware", () => {
  const cluster: NodeSpec[] = [
    { id: "us1", region: "us-east", sysload: 0.3 },
    { id: "us2", region: "us-east", sysload: 0.2 },
    { id: "eu1", region: "eu-west", sysload: 0.1 },
    { id: "ap1", region: "ap-south", sysload: 0.0 },
  ];
  it.each([
    ["New York → us-east (lowest there, not globally)", NEW_YORK, "us2"],
    ["Paris → eu-west", PARIS, "eu1"],
    ["Singapore → ap-south", SINGAPORE, "ap1"],
  ] as const)("%s", (_n, from, id) => {
    expect(choose(cluster, {}, from)).toBe(id);
  });
  it.each([
    [
      "nearest region full → next region with room",
      [
        { id: "us1", sysload: 0.9 },
        { id: "eu1", region: "eu-west", sysload: 0.7 },
        { id: "ap1", region: "ap-south", sysload: 0.1 },
      ],
      "ap1",
    ],
    [
      "everything over the limit → nearest region, lowest there",
      [
        { id: "us1", sysload: 0.9 },
        { id: "us2", sysload: 0.8 },
        { id: "eu1", region: "eu-west", sysload: 0.6 },
      ],
      "us2",
    ],
    [
      "limit is strict: sysload == limit is over",
      [
        { id: "us1", sysload: 0.5 },
        { id: "eu1", region: "eu-west", sysload: 0.49 },
      ],
      "eu1",
    ],
    [
      "nearest region empty → next nearest",
      [
        { id: "eu1", region: "eu-west", sysload: 0.4 },
        { id: "ap1", region: "ap-south", sysload: 0 },
      ],
      "eu1",
    ],
    [
      "unknown region ignored while a configured one has a node",
      [
        { id: "x1", region: "mars", sysload: 0 },
        { id: "ap1", region: "ap-south", sysload: 0.3 },
      ],
      "ap1",
    ],
    [
      "only unknown regions → all of them compete",
      [
        { id: "x1", region: "mars", sysload: 0.2 },
        { id: "x2", region: "venus", sysload: 0.1 },
      ],
      "x2",
    ],
    [
      "unknown-region survivor beats a configured region over the limit",
      [
        { id: "x1", region: "mars", sysload: 0.2 },
        { id: "us1", sysload: 0.9 },
      ],
      "x1",
    ],
    [
      "DRAINING nearest node → next region",
      [
        { id: "us1", state: "DRAINING" },
        { id: "eu1", region: "eu-west", sysload: 0.3 },
      ],
      "eu1",
    ],
  ] as const)("%s", (_n, nodes, id) => {
    expect(choose(nodes as readonly NodeSpec[], {})).toBe(id);
  });
  it("no reference point → all survivors compete", () => {
    expect(choose(cluster, {}, null)).toBe("ap1");
  });
  it("reservations count against the limit and the sort", () => {
    // us1 idle but 20 placements (0.4) since its last report: over 0.5 only with its 0.2 load.
    expect(
      choose(
        [
          { id: "us1", sysload: 0.2, reserved: 20 },
          { id: "eu1", region: "eu-west" },
        ],
        {},
      ),
    ).toBe("eu1");
    expect(
      choose(
        [
          { id: "us1", sysload: 0.0, reserved: 2 },
          { id: "us2", sysload: 0.03 },
        ],
        {},
      ),
    ).toBe("us2");
  });
});

describe("sysload / cpuload / any", () => {
  it.each([
    [
      "sysload: lowest under the limit",
      { kind: "sysload" },
      [
        { id: "a", sysload: 0.6 },
        { id: "b", sysload: 0.3, region: "ap-south" },
      ],
      "b",
    ],
    [
      "sysload: all over → lowest overall",
      { kind: "sysload" },
      [
        { id: "a", sysload: 0.9 },
        { id: "b", sysload: 0.7 },
      ],
      "b",
    ],
    [
      "sysload: limit filters, sort_by rooms picks",
      { kind: "sysload", sort_by: "rooms" },
      [
        { id: "a", sysload: 0.6, rooms: 0 },
        { id: "b", sysload: 0.3, rooms: 9 },
        { id: "c", sysload: 0.4, rooms: 5 },
      ],
      "c",
    ],
    [
      "cpuload: cpu_load_limit",
      { kind: "cpuload", sort_by: "rooms", cpu_load_limit: 0.5 },
      [
        { id: "a", cpuLoad: 0.6, rooms: 0 },
        { id: "b", cpuLoad: 0.3, rooms: 9 },
      ],
      "b",
    ],
    [
      "cpuload: all over → all compete",
      { kind: "cpuload", sort_by: "cpuload", cpu_load_limit: 0.5 },
      [
        { id: "a", cpuLoad: 0.9 },
        { id: "b", cpuLoad: 0.8 },
      ],
      "b",
    ],
    [
      "any: ignores limits and regions",
      { kind: "any" },
      [
        { id: "a", sysload: 0.9 },
        { id: "b", sysload: 0.95, region: "ap-south" },
      ],
      "a",
    ],
  ] as const)("%s", (_n, cfg, nodes, id) => {
    expect(choose(nodes as readonly NodeSpec[], cfg as Cfg)).toBe(id);
  });
});

describe("sort_by and algorithm", () => {
  const base = { kind: "any" } as const;
  it.each([
    [
      "sysload",
      [
        { id: "a", sysload: 0.2 },
        { id: "b", sysload: 0.1 },
      ],
      "b",
    ],
    [
      "cpuload",
      [
        { id: "a", cpuLoad: 0.2 },
        { id: "b", cpuLoad: 0.3 },
      ],
      "a",
    ],
    [
      "rooms",
      [
        { id: "a", rooms: 3 },
        { id: "b", rooms: 2 },
      ],
      "b",
    ],
    [
      "clients",
      [
        { id: "a", clients: 3 },
        { id: "b", clients: 7 },
      ],
      "a",
    ],
    [
      "tracks",
      [
        { id: "a", tracksIn: 1, tracksOut: 9 },
        { id: "b", tracksIn: 6, tracksOut: 3 },
      ],
      "b",
    ],
    [
      "bytespersec",
      [
        { id: "a", bytesInPerSec: 10, bytesOutPerSec: 1 },
        { id: "b", bytesInPerSec: 2, bytesOutPerSec: 8 },
      ],
      "b",
    ],
  ] as const)("lowest by %s", (sort_by, nodes, id) => {
    expect(choose(nodes as readonly NodeSpec[], { ...base, sort_by })).toBe(id);
  });
  it("ties go to the smallest id, whatever the input order", () => {
    expect(choose([{ id: "n3" }, { id: "n1" }, { id: "n2" }], base)).toBe("n1");
  });
  it("reservations: effective = reported + reservations × per-room cost", () => {
    expect(
      choose(
        [
          { id: "a", rooms: 1, reserved: 1 },
          { id: "b", rooms: 1 },
        ],
        { ...base, sort_by: "rooms" },
      ),
    ).toBe("b");
    expect(
      choose(
        [
          { id: "a", rooms: 0, reserved: 1 },
          { id: "b", rooms: 2 },
        ],
        { ...base, sort_by: "rooms" },
      ),
    ).toBe("a");
  });
  it.each([1, 2])("twochoice with %d node(s) is lowest", (n) => {
    const nodes = [
      { id: "hi", sysload: 0.4 },
      { id: "lo", sysload: 0.1 },
    ].slice(2 - n);
    for (let seed = 0; seed < 20; seed++)
      expect(choose(nodes, { ...base, algorithm: "twochoice" }, NEW_YORK, seed)).toBe("lo");
  });
  it("twochoice never picks the most loaded of ≥3 nodes, picks others, and is seed-deterministic", () => {
    const nodes = [0.1, 0.2, 0.3, 0.4, 0.5].map((s, i) => ({ id: `n${i}`, sysload: s }));
    const seen = new Set<string>();
    for (let seed = 0; seed < 200; seed++) {
      const id = choose(nodes, { ...base, algorithm: "twochoice" }, NEW_YORK, seed)!;
      expect(id).not.toBe("n4");
      expect(choose(nodes, { ...base, algorithm: "twochoice" }, NEW_YORK, seed)).toBe(id);
      seen.add(id);
    }
    expect([...seen].sort()).toEqual(["n0", "n1", "n2", "n3"]);
  });
  it("sort_by random spreads over every candidate (both algorithms) and only over candidates", () => {
    const nodes = [{ id: "a" }, { id: "b" }, { id: "c" }, { id: "d", state: "DRAINING" as const }];
    for (const algorithm of ["lowest", "twochoice"] as const) {
      const counts = new Map<string, number>();
      for (let seed = 0; seed < 300; seed++) {
        const id = choose(nodes, { ...base, sort_by: "random", algorithm }, NEW_YORK, seed)!;
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      expect([...counts.keys()].sort()).toEqual(["a", "b", "c"]);
      for (const c of counts.values()) expect(c).toBeGreaterThan(50);
    }
  });
  it("regionaware + random stays inside the nearest region", () => {
    const nodes = [{ id: "us1" }, { id: "us2" }, { id: "eu1", region: "eu-west" }];
    for (let seed = 0; seed < 50; seed++) expect(choose(nodes, { sort_by: "random" }, NEW_YORK, seed)).toMatch(/^us/);
  });
});
