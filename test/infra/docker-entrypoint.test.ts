// infra/Dockerfile without a Docker engine: lint it, check what the runtime stage promises
// (multi-stage, non-root, healthcheck, ports), prove its COPY list and pruned packages carry
// everything the entrypoint imports, then run the exact ENTRYPOINT + CMD with the image's ENV
// from a directory laid out like the image, against a real redis-server and mediasoup worker.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { realpathSync } from "node:fs";
import { cp, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { build } from "esbuild";
import { validate } from "dockerfile-utils";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigSchema } from "../../media-node/src/config.ts";
import { keys } from "#shared/keys.ts";
import { NodeRecord } from "#shared/node.ts";
import { freePort, TestRedis } from "../support/redis.ts";
import { aptPackages, parseStages, type Stage } from "./dockerfile.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const DOCKERFILE = join(ROOT, "infra/Dockerfile");

let text: string;
let runtime: Stage;

beforeAll(async () => {
  text = await readFile(DOCKERFILE, "utf8");
  runtime = parseStages(text).at(-1)!;
});

/** The context paths the runtime stage copies in (not from another stage), image-relative. */
const contextCopies = () => runtime.copies.filter((c) => !c.from);

describe("infra/Dockerfile", () => {
  it("lints clean", () => {
    expect(validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it("builds a small non-root media-node image with a health check and the RTC ports", () => {
    const stages = parseStages(text);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.image).toBe("node:24-bookworm-slim");
    // Only node_modules comes from the build stage: no compilers in the runtime image.
    expect(runtime.copies.filter((c) => c.from)).toEqual([
      { from: stages[0]!.name, sources: ["/app/node_modules"], dest: "node_modules" },
    ]);
    expect(runtime.user).toBeDefined();
    expect(["root", "0"]).not.toContain(runtime.user!.split(":")[0]);
    expect(runtime.entrypoint).toEqual(["node", "media-node/src/main.ts"]);
    expect(runtime.healthcheck?.cmd.join(" ")).toContain("/healthz");
    const http = runtime.env.HTTP_PORT!;
    const rtc = Number(runtime.env.RTC_PORT);
    expect(runtime.expose).toContain(`${http}/tcp`);
    const udp = runtime.expose.find((e) => e.endsWith("/udp"))!;
    expect(udp).toMatch(new RegExp(`^${rtc}-\\d+/udp$`));
    expect(runtime.expose).toContain(udp.replace("/udp", "/tcp"));
  });

  it("installs the Debian package of every shared library the built worker links", () => {
    const worker = join(ROOT, "node_modules/mediasoup/worker/out/Release/mediasoup-worker");
    const ldd = spawnSync("ldd", [worker], { encoding: "utf8" });
    expect(ldd.status, `ldd ${worker}: ${ldd.stderr} (run infra/mediasoup/build-worker.sh)`).toBe(0);
    const libs = [...ldd.stdout.matchAll(/=> (\/\S+)/g)].map((m) => m[1]!);
    expect(libs.length).toBeGreaterThan(3);
    const dpkg = (...args: string[]) => spawnSync("dpkg-query", args, { encoding: "utf8" }).stdout;
    // dpkg knows a file by one of its names (usrmerge: /lib vs /usr/lib), so ask with both, once.
    const names = libs.flatMap((l) => [l, realpathSync(l)]);
    const owners = new Map(
      [
        ...spawnSync("dpkg", ["-S", ...names], { encoding: "utf8" }).stdout.matchAll(
          /^([^:\n]+)(?::[^:\n]+)?: (\/.+)$/gm,
        ),
      ].map((m) => [m[2]!, m[1]!]),
    );
    const owner = (lib: string) => owners.get(lib) ?? owners.get(realpathSync(lib)) ?? "";
    const installed = aptPackages(runtime);
    expect(installed.length).toBeGreaterThan(0);
    // What apt brings along with them (one level is enough for these libraries), plus what the
    // node base image already has for Node itself.
    const deps = installed.flatMap((p) =>
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field syntax
      dpkg("-W", "-f=${Depends}", p)
        .split(/[,|]/)
        .map((d) => d.trim().split(" ")[0]!),
    );
    const available = new Set([...installed, ...deps, "libc6", "libstdc++6", "libgcc-s1"]);
    for (const lib of libs)
      expect(available, `${lib} (${owner(lib)}) is not installed in the runtime stage`).toContain(owner(lib));
  });

  it("copies every file and runtime package the entrypoint imports; .dockerignore lets them in", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    const entry = runtime.entrypoint.find((a) => a.endsWith(".ts"))!;
    const result = await build({
      entryPoints: [join(ROOT, entry)],
      bundle: true,
      platform: "node",
      format: "esm",
      packages: "external",
      absWorkingDir: ROOT,
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    const copied = contextCopies().flatMap((c) => c.sources);
    const files = Object.keys(result.metafile.inputs);
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      expect(
        copied.some((src) => file === src || file.startsWith(`${src.replace(/\/$/, "")}/`)),
        `${file} is not copied into the image`,
      ).toBe(true);
    }
    const packages = new Set(
      Object.values(result.metafile.inputs)
        .flatMap((i) => i.imports)
        .filter((i) => i.external && !i.path.startsWith("node:"))
        .map((i) =>
          i.path
            .split("/")
            .slice(0, i.path.startsWith("@") ? 2 : 1)
            .join("/"),
        ),
    );
    expect(packages.size).toBeGreaterThan(0);
    for (const p of packages)
      expect(Object.keys(pkg.dependencies), `${p} is pruned by npm prune --omit=dev`).toContain(p);

    const ignore = (await readFile(join(ROOT, ".dockerignore"), "utf8")).split("\n").map((l) => l.trim());
    const buildCopies = parseStages(text).flatMap((s) => s.copies.filter((c) => !c.from).flatMap((c) => c.sources));
    for (const src of buildCopies)
      expect(
        ignore.some((l) => l === `!${src}` || l === `!${src}/`),
        `${src} is excluded by .dockerignore`,
      ).toBe(true);
  });
});

describe("docs/configuration.md media node table", () => {
  it("documents every variable the media node reads and only those, with the image's defaults", async () => {
    const doc = await readFile(join(ROOT, "docs/configuration.md"), "utf8");
    const start = doc.indexOf("## Media node");
    const section = doc.slice(start, doc.indexOf("\n## ", start + 1));
    const rows = [...section.matchAll(/^\| (`[A-Z_]+`(?:, `[A-Z_]+`)*) \| ([^|]+) \|/gm)];
    const names = rows.flatMap((m) => [...m[1]!.matchAll(/`([A-Z_]+)`/g)].map((n) => n[1]!));
    const known = new Set([...Object.keys(ConfigSchema.shape).map((k) => k.toUpperCase()), "MERIDIAN_CONFIG"]);
    for (const name of names) expect(known, `docs document ${name}, which the node does not read`).toContain(name);
    for (const name of known) expect(names, `docs/configuration.md does not document ${name}`).toContain(name);
    const defaults = Object.fromEntries(rows.map((m) => [m[1]!.replaceAll("`", ""), m[2]!.trim()]));
    for (const name of ["HTTP_PORT", "RTC_PORT"]) expect(defaults[name]).toBe(`\`${runtime.env[name]}\``);
  });
});

describe("the Dockerfile's command, run outside Docker", () => {
  let redis: TestRedis;
  let client: Redis;
  let app: string;
  let proc: ChildProcess | undefined;
  let output = "";
  let env: Record<string, string>;
  const nodeId = `docker-entrypoint-${process.pid}`;

  beforeAll(async () => {
    redis = await TestRedis.start();
    client = redis.client();
    // The image's /app: what the runtime stage copies from the context, plus node_modules (the
    // build stage's output; here the checkout's, with the worker built by build-worker.sh).
    expect(runtime.workdir).toBe("/app");
    app = await mkdtemp(join(tmpdir(), "meridian-image-"));
    for (const c of contextCopies()) {
      for (const src of c.sources) {
        const dest = c.dest.endsWith("/") ? join(app, c.dest, src.split("/").at(-1)!) : join(app, c.dest);
        await cp(join(ROOT, src), dest, { recursive: true });
      }
    }
    await symlink(join(ROOT, "node_modules"), join(app, "node_modules"));

    const [httpPort, rtcPort] = [await freePort(), await freePort()];
    env = {
      PATH: process.env.PATH ?? "",
      HOME: app,
      ...runtime.env,
      // What README's `docker run -e …` sets, bound to loopback for the test.
      NODE_ID: nodeId,
      REGION: "test-region",
      REDIS_URL: redis.url,
      API_KEYS: "devkey:devsecret-devsecret-devsecret-0123",
      ANNOUNCED_ADDRESS: "127.0.0.1",
      LISTEN_IP: "127.0.0.1",
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: String(httpPort),
      RTC_PORT: String(rtcPort),
      WORKERS: "1",
    };
    const [cmd, ...args] = [...runtime.entrypoint, ...runtime.cmd];
    proc = spawn(cmd!, args, { cwd: app, env, stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  });

  afterAll(async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGKILL");
      await new Promise((r) => proc!.once("exit", r));
    }
    client?.disconnect();
    await redis?.stop();
    if (app) await rm(app, { recursive: true, force: true });
  });

  async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc?.exitCode !== null) throw new Error(`media node exited (${proc?.exitCode}) before ${what}:\n${output}`);
      const v = await probe().catch(() => undefined);
      if (v !== undefined) return v;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}:\n${output}`);
  }

  it("serves /healthz, registers in Redis, passes the image's HEALTHCHECK, and drains on SIGTERM", async () => {
    const health = await waitFor("/healthz", async () => {
      const res = await fetch(`http://127.0.0.1:${env.HTTP_PORT}/healthz`);
      return res.status === 200 ? ((await res.json()) as { node: string; state: string }) : undefined;
    });
    expect(health).toMatchObject({ node: nodeId, state: "SERVING" });

    const record = await waitFor("the node record", async () => {
      const raw = await client.get(keys.node(nodeId));
      return raw ? NodeRecord.parse(JSON.parse(raw)) : undefined;
    });
    expect(record).toMatchObject({ id: nodeId, region: "test-region", state: "SERVING", rtcAddress: "127.0.0.1" });
    expect(record.signalUrl).toBe(`ws://127.0.0.1:${env.HTTP_PORT}/rtc`);
    expect(await client.zscore(keys.nodes(), nodeId)).not.toBeNull();

    // Docker runs the HEALTHCHECK command in the container: same env, same working directory.
    const [hcCmd, ...hcArgs] = runtime.healthcheck!.cmd;
    const hc = spawnSync(hcCmd!, hcArgs, { cwd: app, env, timeout: 15_000 });
    expect(hc.status).toBe(0);

    // `docker stop` sends the STOPSIGNAL; with no rooms the drain ends at once and the node
    // deregisters instead of waiting for its TTL.
    const exited = new Promise<number | null>((r) => proc!.once("exit", (code) => r(code)));
    proc!.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(await client.get(keys.node(nodeId))).toBeNull();
    expect(await client.zscore(keys.nodes(), nodeId)).toBeNull();

    const down = spawnSync(hcCmd!, hcArgs, { cwd: app, env, timeout: 15_000 });
    expect(down.status).toBe(1);
  });
});
