// CPU time from /proc, for benchmarks on a shared machine: a process's time on a CPU and its time
// waiting for one (run-queue delay: how much other load delayed it), summed over its threads
// (/proc/<pid>/task/<tid>/schedstat, ns), and the whole machine's busy time (/proc/stat).
import { readdirSync, readFileSync } from "node:fs";

export interface ProcCpu {
  /** ns on a CPU */
  run: number;
  /** ns runnable but waiting for a CPU */
  wait: number;
}

/** Zeros when the process is gone (its threads are read one by one; one may exit meanwhile). */
export function procCpu(pid: number): ProcCpu {
  const total = { run: 0, wait: 0 };
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return total;
  }
  for (const tid of tids) {
    try {
      const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ").map(Number);
      total.run += run ?? 0;
      total.wait += wait ?? 0;
    } catch {
      // thread exited
    }
  }
  return total;
}

/** The machine's CPU time so far (clock ticks): busy and all, over every CPU. */
export function machineCpu(): { busy: number; all: number } {
  const cols = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const all = cols.slice(0, 8).reduce((s, v) => s + v, 0);
  return { busy: all - (cols[3] ?? 0) - (cols[4] ?? 0), all };
}
