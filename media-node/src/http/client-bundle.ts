// The browser client (media-node/client) bundled with esbuild on first request and kept in
// memory: nothing generated is committed, and a node that never serves the demo never builds it.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const ENTRY = fileURLToPath(new URL("../../client/demo.ts", import.meta.url));
let bundle: Promise<string> | undefined;

export function clientBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [ENTRY],
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "chrome110",
    write: false,
    logLevel: "silent",
  }).then((r) => r.outputFiles[0]!.text);
  bundle.catch(() => (bundle = undefined));
  return bundle;
}
