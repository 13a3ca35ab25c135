// The real control-plane Worker under the Miniflare API (what `wrangler dev` runs, without its
// CLI): bundled like wrangler bundles it, with wrangler.toml's compatibility date.
import { readFileSync } from "node:fs";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import type { Env } from "../../control-plane/src/env.ts";

/** Bundles a Worker entry the way wrangler does (esbuild, workerd export conditions). */
export async function bundleWorkerEntry(entry: string): Promise<string> {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    write: false,
    logLevel: "silent",
  });
  return r.outputFiles[0]!.text;
}

let bundle: Promise<string> | undefined;

/** The control-plane Worker, bundled once per process. */
export function bundleWorker(): Promise<string> {
  bundle ??= bundleWorkerEntry(new URL("../../control-plane/src/index.ts", import.meta.url).pathname);
  return bundle;
}

/** wrangler.toml's compatibility_date, so local runs run what deploys. */
export const COMPATIBILITY_DATE = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(
  readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8"),
)![1]!;

/** request.cf of every loopback request; a request's own cf (dispatchFetch) replaces it. */
export const LOCAL_CF = { colo: "LOCAL", country: "XX" } as const;

export interface LocalWorkerOptions {
  /** Worker bindings (vars + secrets). */
  bindings: Env;
  /** Loopback port for browsers (the dashboard); default: one Miniflare picks. */
  port?: number;
}

/** Starts the Worker; `url` is its loopback HTTP address (requests there get LOCAL_CF, no
 * location; use dispatchFetch with `cf`, or the X-Meridian-Client-Location header where
 * TRUST_CLIENT_LOCATION is set, to place a client). */
export async function startLocalWorker(o: LocalWorkerOptions): Promise<{ mf: Miniflare; url: URL }> {
  const mf = new Miniflare({
    modules: true,
    script: await bundleWorker(),
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: o.bindings as Record<string, string>,
    // A fixed request.cf (no location: the Worker falls back to DEFAULT_REGION, or the dev-only
    // location header), so Miniflare never fetches Cloudflare's cf.json at start.
    cf: LOCAL_CF,
    host: "127.0.0.1",
    ...(o.port !== undefined ? { port: o.port } : {}),
  });
  const url = await mf.ready;
  return { mf, url };
}

/** A response's status and body: parsed JSON, or the text when it is not JSON. */
export async function readResponse(res: {
  status: number;
  text(): Promise<string>;
}): Promise<{ status: number; body: any }> {
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}
