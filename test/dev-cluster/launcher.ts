// Runs `node infra/dev-cluster.ts --free-ports --machine` as a child process and reads its
// ready line; bounded waits only.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const LAUNCHER = fileURLToPath(new URL("../../infra/dev-cluster.ts", import.meta.url));

export interface Ready {
  app: string;
  worker: string;
  dashboard: string;
  redisUrl: string;
  upstashRest: string;
  apiKey: string;
  apiSecret: string;
  nodes: { id: string; region: string; http: string; pid: number }[];
  pids: number[];
}

export interface Launcher {
  proc: ChildProcess;
  ready: Ready;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function startLauncher(env: Record<string, string> = {}, timeoutMs = 90_000): Promise<Launcher> {
  const proc = spawn(process.execPath, [LAUNCHER, "--free-ports", "--machine"], {
    env: {
      ...process.env,
      REDIS_URL: "",
      MERIDIAN_API_KEY: "",
      MERIDIAN_API_SECRET: "",
      API_KEYS: "",
      MERIDIAN_CONFIG: "",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`launcher not ready in ${timeoutMs} ms:\n${output.slice(-30).join("\n")}`)),
      timeoutMs,
    );
    let buf = "";
    const onData = (chunk: Buffer) => {
      buf += chunk.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const line of lines) {
        output.push(line);
        if (line.startsWith("MERIDIAN_DEV_READY ")) {
          clearTimeout(timer);
          resolve(JSON.parse(line.slice("MERIDIAN_DEV_READY ".length)) as Ready);
        }
      }
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", onData);
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`launcher exited early (${JSON.stringify(e)}):\n${output.slice(-30).join("\n")}`));
    });
  });
  return { proc, ready, output, exited };
}

/** A process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}
