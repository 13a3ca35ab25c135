// Pure helpers for the node's load figures (LiveKit's definitions, so selector limits carry over).
import type { CpuInfo } from "node:os";

export interface CpuTimes {
  idle: number;
  total: number;
}

export function cpuTimes(cpus: CpuInfo[]): CpuTimes {
  let idle = 0;
  let total = 0;
  for (const c of cpus) {
    const t = c.times;
    idle += t.idle;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
  }
  return { idle, total };
}

/** 1 − idle share between two samples, clamped to 0..1 (0 when no time passed). */
export function cpuLoad(prev: CpuTimes, cur: CpuTimes): number {
  const total = cur.total - prev.total;
  if (total <= 0) return 0;
  return Math.min(1, Math.max(0, 1 - (cur.idle - prev.idle) / total));
}

/** load average (1 min) / CPUs. */
export function sysload(loadAvg1: number, numCpus: number): number {
  return numCpus > 0 ? loadAvg1 / numCpus : 0;
}

/** Bytes/s between two samples of cumulative per-transport counters (id -> bytes). A transport's
 * first sample only sets its baseline; a closed transport's last bytes are lost (one interval). */
export function byteRate(
  prev: ReadonlyMap<string, number>,
  cur: ReadonlyMap<string, number>,
  elapsedMs: number,
): number {
  if (elapsedMs <= 0) return 0;
  let delta = 0;
  for (const [id, bytes] of cur) {
    const before = prev.get(id);
    if (before !== undefined && bytes >= before) delta += bytes - before;
  }
  return (delta * 1000) / elapsedMs;
}
