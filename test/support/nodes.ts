// Node record factory for selector, placement and Worker tests.
import type { NodeRecord, NodeStats } from "#shared/node.ts";

export interface NodeSpec extends Partial<NodeStats> {
  id: string;
  region?: string;
  state?: NodeRecord["state"];
  updatedAt?: number;
  signalUrl?: string;
}

export function nodeRecord(spec: NodeSpec, now = Date.now()): NodeRecord {
  const { id, region = "us-east", state = "SERVING", updatedAt = now, signalUrl, ...stats } = spec;
  return {
    id,
    region,
    state,
    signalUrl: signalUrl ?? `wss://${id}.example.test/signal`,
    rtcAddress: "127.0.0.1",
    // Started with the registry: a node up for longer before the registry's first report would
    // mark it as restarted empty and start its warm-up (shared/keys.ts registry:warming).
    startedAt: now,
    updatedAt,
    stats: {
      numCpus: 4,
      loadAvg1: (stats.sysload ?? 0) * 4,
      sysload: 0,
      cpuLoad: 0,
      rooms: 0,
      clients: 0,
      tracksIn: 0,
      tracksOut: 0,
      bytesInPerSec: 0,
      bytesOutPerSec: 0,
      ...stats,
    },
  };
}

/** Regions used across the tests: real coordinates so haversine picks are obvious. */
export const REGIONS = [
  { name: "us-east", lat: 39.04, lon: -77.49 }, // Ashburn
  { name: "eu-west", lat: 53.35, lon: -6.26 }, // Dublin
  { name: "ap-south", lat: 19.08, lon: 72.88 }, // Mumbai
];
export const NEW_YORK = { lat: 40.71, lon: -74.01 };
export const PARIS = { lat: 48.86, lon: 2.35 };
export const SINGAPORE = { lat: 1.35, lon: 103.82 };
