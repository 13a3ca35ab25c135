// Browser pages bundled with esbuild on first request and kept in memory: nothing generated is
// committed, and a process that never serves a page never builds it. A failed build is retried on
// the next request.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

/** A memoized bundler for one browser entry point (an IIFE for current Chromium-class browsers). */
export function browserBundle(entry: string): () => Promise<string> {
  let bundle: Promise<string> | undefined;
  return () => {
    bundle ??= build({
      entryPoints: [entry],
      bundle: true,
      format: "iife",
      platform: "browser",
      target: "chrome110",
      write: false,
      logLevel: "silent",
    }).then((r) => r.outputFiles[0]!.text);
    bundle.catch(() => (bundle = undefined));
    return bundle;
  };
}

/** The media node's browser client and demo page (media-node/client). */
export const clientBundle = browserBundle(fileURLToPath(new URL("../../client/demo.ts", import.meta.url)));
