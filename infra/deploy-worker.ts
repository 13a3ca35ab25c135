// `npm run deploy:worker -- --config <file> [--env production] [--print] [--dry-run --outdir <dir>]`
// Deploys the control-plane Worker with its vars taken from the deploy config (regions, selector,
// default region…), so the file is the one place a deployment states them. Secrets stay with
// `wrangler secret put`. --print shows the vars as JSON and deploys nothing.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { DeployFileError, loadDeployFile } from "#shared/deploy-config.ts";
import { parseConfigCli } from "./config-cli.ts";
import { workerVars, wranglerDeployArgs } from "./worker-vars.ts";

const USAGE = `usage: npm run deploy:worker -- --config <file.yaml> [--env production] [--print] [--dry-run --outdir <dir>]
  --config   deploy config (see infra/meridian.example.yaml)
  --env      wrangler.toml environment (default production)
  --print    print the Worker vars the file gives, as JSON, and exit
  --dry-run  bundle and check without uploading (wrangler deploy --dry-run), with --outdir`;

const WRANGLER = fileURLToPath(new URL("../node_modules/wrangler/bin/wrangler.js", import.meta.url));

function main(argv: string[]): number {
  const args = parseConfigCli(
    argv,
    {
      env: { type: "string", default: "production" },
      print: { type: "boolean" },
      "dry-run": { type: "boolean" },
      outdir: { type: "string" },
    },
    USAGE,
  );
  if (typeof args === "number") return args;
  let file;
  try {
    file = loadDeployFile(args.config);
  } catch (e) {
    if (e instanceof DeployFileError) {
      console.error(`deploy:worker: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (args.print) {
    console.log(JSON.stringify(workerVars(file), null, 2));
    return 0;
  }
  const extra = [...(args["dry-run"] ? ["--dry-run"] : []), ...(args.outdir ? ["--outdir", args.outdir] : [])];
  const r = spawnSync(process.execPath, [WRANGLER, ...wranglerDeployArgs(file, args.env, extra)], { stdio: "inherit" });
  return r.status ?? 1;
}

process.exitCode = main(process.argv.slice(2));
