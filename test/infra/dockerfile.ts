// Reads what a Dockerfile's final stage will do, with dockerfile-ast (the parser behind the VS Code
// Docker language server), so a test can run the image's command without a Docker engine.
import { Copy, DockerfileParser, Env, Healthcheck, type Instruction } from "dockerfile-ast";

export interface CopyStep {
  from: string | undefined;
  sources: string[];
  dest: string;
}

export interface Stage {
  name: string | undefined;
  /** Base image with the Dockerfile's ARG defaults substituted. */
  image: string;
  env: Record<string, string>;
  workdir: string | undefined;
  user: string | undefined;
  copies: CopyStep[];
  /** RUN commands, shell form, continuation lines joined. */
  runs: string[];
  expose: string[];
  /** Exec-form arrays; empty when absent. */
  entrypoint: string[];
  cmd: string[];
  healthcheck: { flags: Record<string, string>; cmd: string[] } | undefined;
}

/** Exec form only: the shell form would run through /bin/sh -c, which these tests avoid. */
function execForm(text: string, what: string): string[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === "string"))
    throw new Error(`${what} must be an exec-form JSON array`);
  return parsed;
}

/** Packages a stage installs with `apt-get install` (flags dropped). */
export function aptPackages(stage: Stage): string[] {
  return stage.runs.flatMap((run) =>
    [...run.matchAll(/apt-get install ([^&;|]+)/g)].flatMap((m) =>
      m[1]!
        .trim()
        .split(" ")
        .filter((w) => w && !w.startsWith("-")),
    ),
  );
}

export function parseStages(text: string): Stage[] {
  const df = DockerfileParser.parse(text);
  const args = new Map(
    df.getInitialARGs().flatMap((a) => {
      const p = a.getProperty();
      return p ? [[p.getName(), p.getValue() ?? ""] as const] : [];
    }),
  );
  const expand = (s: string) =>
    s.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => args.get(name) ?? "");
  const froms = df.getFROMs();
  const stageOf = (i: Instruction) =>
    froms.filter((f) => f.getRange().start.line <= i.getRange().start.line).length - 1;
  const stages: Stage[] = froms.map((f) => ({
    name: f.getBuildStage() ?? undefined,
    image: expand(f.getImageName() ?? ""),
    env: {},
    workdir: undefined,
    user: undefined,
    copies: [],
    runs: [],
    expose: [],
    entrypoint: [],
    cmd: [],
    healthcheck: undefined,
  }));
  for (const ins of df.getInstructions()) {
    const stage = stages[stageOf(ins)];
    if (!stage) continue;
    const content = ins.getArgumentsContent() ?? "";
    switch (ins.getKeyword()) {
      case "ENV":
        if (ins instanceof Env)
          for (const p of ins.getProperties()) stage.env[p.getName()] = p.getUnescapedValue() ?? "";
        break;
      case "RUN":
        stage.runs.push(content.replace(/\s+/g, " "));
        break;
      case "WORKDIR":
        stage.workdir = content;
        break;
      case "USER":
        stage.user = content;
        break;
      case "EXPOSE":
        stage.expose.push(...ins.getArguments().map((a) => a.getValue()));
        break;
      case "COPY": {
        if (!(ins instanceof Copy)) break;
        const parts = ins.getArguments().map((a) => a.getValue());
        stage.copies.push({
          from: ins.getFromFlag()?.getValue() ?? undefined,
          sources: parts.slice(0, -1),
          dest: parts.at(-1) ?? "",
        });
        break;
      }
      case "ENTRYPOINT":
        stage.entrypoint = execForm(content, "ENTRYPOINT");
        break;
      case "CMD":
        stage.cmd = execForm(content, "CMD");
        break;
      case "HEALTHCHECK": {
        if (!(ins instanceof Healthcheck)) break;
        const flags = Object.fromEntries(ins.getFlags().map((f) => [f.getName(), f.getValue() ?? ""]));
        const body = content.replace(/^CMD\s+/, "");
        stage.healthcheck = { flags, cmd: execForm(body, "HEALTHCHECK CMD") };
        break;
      }
    }
  }
  return stages;
}
