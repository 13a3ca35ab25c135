// `npm run dns:sync -- --config <file> [--dry-run]`
// Credentials come only from the standard AWS chain (env, shared config/SSO profile, instance or
// container role): this tool never reads or takes keys itself.
import { Route53Client } from "@aws-sdk/client-route-53";
import { parseConfigCli } from "../config-cli.ts";
import { ConfigError, loadDeployConfig } from "./config.ts";
import { PlanError } from "./plan.ts";
import { DnsSyncError, Route53Io } from "./route53.ts";
import { dryRunReport, isNoop, syncDns } from "./sync.ts";

const USAGE = `usage: npm run dns:sync -- --config <file.yaml> [--dry-run]
  --config   deploy config (see infra/meridian.example.yaml)
  --dry-run  read Route 53, print the exact ChangeBatch and health-check calls, change nothing`;

async function main(argv: string[]): Promise<number> {
  const args = parseConfigCli(argv, { "dry-run": { type: "boolean" } }, USAGE);
  if (typeof args === "number") return args;
  const config = await loadDeployConfig(args.config);
  // Route 53 is a global service signed in us-east-1; the client's own retries are off because
  // Route53Io retries throttling itself.
  const io = new Route53Io(new Route53Client({ region: "us-east-1", maxAttempts: 1 }));
  const dryRun = Boolean(args["dry-run"]);
  const result = await syncDns(config, io, { dryRun });
  if (dryRun) {
    console.log(JSON.stringify(dryRunReport(result), null, 2));
  } else if (isNoop(result.plan)) {
    console.log(`${result.recordName} in ${result.hostedZoneId}: up to date, nothing changed`);
  } else {
    const n = result.plan.changeBatch?.Changes?.length ?? 0;
    console.log(
      `${result.recordName} in ${result.hostedZoneId}: created ${result.applied?.createdHealthChecks.length ?? 0} health check(s), ` +
        `applied ${n} record change(s)${result.applied?.changeId ? ` (${result.applied.changeId})` : ""}, ` +
        `deleted ${result.plan.deleteHealthChecks.length} health check(s)`,
    );
  }
  return 0;
}

function describe(err: unknown): { message: string; code: number } {
  if (err instanceof ConfigError) return { message: err.message, code: 2 };
  if (err instanceof DnsSyncError || err instanceof PlanError) return { message: err.message, code: 1 };
  const e = err as Error;
  if (e?.name === "CredentialsProviderError") {
    return {
      message: `no AWS credentials found in the standard chain (AWS_PROFILE / env / SSO / instance role): ${e.message}`,
      code: 1,
    };
  }
  if (e?.name === "AccessDenied" || e?.name === "AccessDeniedException") {
    return {
      message: `AWS denied access (${e.message}); the identity needs route53:List*, Get*, ChangeResourceRecordSets, CreateHealthCheck, DeleteHealthCheck, ChangeTagsForResource`,
      code: 1,
    };
  }
  return { message: `${e?.name ?? "Error"}: ${e?.message ?? String(err)}`, code: 1 };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const { message, code } = describe(err);
    console.error(`dns:sync failed: ${message}`);
    process.exitCode = code;
  },
);
