// The reservation model (shared/selector/reservation.ts): what a placed room costs, how long the
// reservation outlives reports, and what the selector ranks on. The Lua side is held to the same
// numbers by differential.test.ts.
import { describe, expect, it } from "vitest";
import { NodeSelectorConfig } from "#shared/config.ts";
import { REPORT_INTERVAL_MS } from "#shared/node.ts";
import {
  DEFAULT_ROOM_COST,
  REFLECT_TAU_MS,
  afterReport,
  decayFactor,
  effectiveMetric,
  regionPreference,
  roomCost,
  seededRng,
  selectNode,
  settledMetric,
  type Candidate,
} from "#shared/selector/index.ts";
import { NEW_YORK, REGIONS, nodeRecord, type NodeSpec } from "../support/nodes.ts";

const T0 = 1_800_000_000_000;
const config = NodeSelectorConfig.parse({ regions: REGIONS });
const pickFrom = (cands: Candidate[], now: number) =>
  selectNode(cands, { config, now, regionOrder: regionPreference(REGIONS, NEW_YORK), rng: seededRng(1) })!.node.id;

describe("decayFactor", () => {
  it("tracks exp(-dt/τ) closely over the spans reports cover", () => {
    for (const x of [0.01, 0.1, 0.5, 1, 2]) expect(decayFactor(x * 1000, 1000) / Math.exp(-x)).toBeCloseTo(1, 2);
    expect(decayFactor(REPORT_INTERVAL_MS, REFLECT_TAU_MS.sysload)).toBeCloseTo(
      Math.exp(-REPORT_INTERVAL_MS / REFLECT_TAU_MS.sysload),
      4,
    );
  });
  it("τ 0 forgets at once, dt ≤ 0 keeps everything, a long silence forgets", () => {
    expect(decayFactor(1, 0)).toBe(0);
    expect(decayFactor(0, 1000)).toBe(1);
    expect(decayFactor(-5, 1000)).toBe(1);
    expect(decayFactor(1e9, 1000)).toBe(0);
  });
});

describe("roomCost and settledMetric", () => {
  it("learns the node's average room; defaults while it hosts none", () => {
    const busy = nodeRecord(
      { id: "a", rooms: 10, clients: 80, tracksIn: 160, tracksOut: 1000, sysload: 0.2, cpuLoad: 0.3 },
      T0,
    );
    expect(roomCost(busy, "clients")).toBe(8);
    expect(roomCost(busy, "tracks")).toBe(116);
    expect(roomCost(busy, "rooms")).toBe(1);
    expect(roomCost(busy, "sysload")).toBeCloseTo(0.03, 12); // from the CPU share, not the lagging average
    const idle = nodeRecord({ id: "b" }, T0);
    for (const m of ["sysload", "cpuload", "clients", "tracks", "bytespersec"] as const)
      expect(roomCost(idle, m)).toBe(DEFAULT_ROOM_COST[m]);
  });
  it("sysload is settled at max(load average, CPU share): the lag of a ramp is measured", () => {
    expect(settledMetric(nodeRecord({ id: "ramp", sysload: 0.1, cpuLoad: 0.4 }, T0), "sysload")).toBe(0.4);
    expect(settledMetric(nodeRecord({ id: "other-work", sysload: 0.6, cpuLoad: 0.4 }, T0), "sysload")).toBe(0.6);
    expect(settledMetric(nodeRecord({ id: "x", sysload: 0.1, cpuLoad: 0.4 }, T0), "cpuload")).toBe(0.4);
  });
  it("a node whose load average still trails its CPU loses to one that is truly lighter", () => {
    const ramp = afterReport(undefined, nodeRecord({ id: "a-ramp", sysload: 0.1, cpuLoad: 0.4 }, T0));
    const steady = afterReport(undefined, nodeRecord({ id: "b-steady", sysload: 0.3, cpuLoad: 0.3 }, T0));
    expect(pickFrom([ramp, steady], T0)).toBe("b-steady");
  });
});

describe("afterReport: reservations outlive the report", () => {
  const at = (spec: Omit<NodeSpec, "id">, t: number) =>
    nodeRecord({ id: "n", rooms: 10, clients: 50, cpuLoad: 0.25, sysload: 0.1, ...spec, updatedAt: t }, t);

  it("carries what the metrics cannot show yet, decayed by their own time constant; rooms reset", () => {
    const before = { ...afterReport(undefined, at({}, T0)), reserved: 4 };
    const dt = REPORT_INTERVAL_MS;
    const next = afterReport(before, at({ rooms: 14 }, T0 + dt));
    expect(next.reserved).toBe(0);
    expect(next.carried!.rooms).toBe(0); // the report counts the 4 rooms
    expect(next.carried!.clients).toBe(4 * 5 * decayFactor(dt, REFLECT_TAU_MS.clients)); // 5 clients per room, most still to come
    expect(next.carried!.sysload).toBeCloseTo(4 * 0.025 * Math.exp(-dt / REFLECT_TAU_MS.sysload), 4);
    // and keeps decaying over later reports until it is gone
    let c = next;
    for (let i = 2; i <= 120; i++) c = afterReport(c, at({ rooms: 14 }, T0 + i * dt));
    expect(c.carried!.clients).toBeLessThan(1e-3);
    expect(c.carried!.clients).toBeGreaterThan(0);
  });

  it("a burst placed on one node keeps steering the next rooms away after its report (no herding back)", () => {
    // Both nodes report the same (lagging) stats; `a` just received 6 rooms, `b` none.
    const node = (id: string, spec: Omit<NodeSpec, "id">, t: number) => ({ ...at(spec, t), id });
    const a = afterReport(
      { ...afterReport(undefined, node("a", {}, T0)), reserved: 6 },
      node("a", { rooms: 16 }, T0 + 1000),
    );
    const b = afterReport(undefined, node("b", {}, T0 + 1000));
    expect(effectiveMetric(a, "sysload")).toBeGreaterThan(effectiveMetric(b, "sysload"));
    expect(pickFrom([a, b], T0 + 1000)).toBe("b");
  });

  it("a first report (or one from a new incarnation) starts from nothing", () => {
    const fresh = afterReport(undefined, at({}, T0));
    expect(Object.values(fresh.carried!).every((v) => v === 0)).toBe(true);
    expect(effectiveMetric(fresh, "clients")).toBe(50);
  });
});
