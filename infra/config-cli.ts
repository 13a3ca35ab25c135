// Argument handling shared by the CLIs that take a deploy config (`dns:sync`, `deploy:worker`):
// --help prints the usage (exit 0); a bad flag or a missing --config prints why and the usage
// (exit 2).
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

type Values<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ options: O; strict: true }>>["values"];

/** The parsed flags with `config` set, or the exit code when the command should stop here. */
export function parseConfigCli<O extends ParseArgsOptionsConfig>(
  argv: string[],
  options: O,
  usage: string,
): (Values<O> & { config: string }) | number {
  let values: Values<O>;
  try {
    values = parseArgs({
      args: argv,
      options: { ...options, config: { type: "string" }, help: { type: "boolean" } },
      strict: true,
    }).values as Values<O>;
  } catch (e) {
    console.error(`${(e as Error).message}\n${usage}`);
    return 2;
  }
  const v = values as Values<O> & { config?: string; help?: boolean };
  if (v.help) {
    console.log(usage);
    return 0;
  }
  if (!v.config) {
    console.error(`--config is required\n${usage}`);
    return 2;
  }
  return v as Values<O> & { config: string };
}
