// The docs name npm scripts, repository paths and each other's sections; files move and scripts
// get renamed, so every such reference is checked here.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const DOCS = [
  "README.md",
  "bench/README.md",
  "infra/mediasoup/README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const scripts = Object.keys(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces → hyphens. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .trim()
    .replace(/\s/g, "-");
}

function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.replace(/```[\s\S]*?```/g, "").matchAll(/^#{1,6} (.+)$/gm)) out.add(slug(m[1]!));
  return out;
}

/** `a/{b,c}.ts` → a/b.ts, a/c.ts */
function expandBraces(p: string): string[] {
  const m = /\{([^{}]+)\}/.exec(p);
  if (!m) return [p];
  return m[1]!.split(",").flatMap((alt) => expandBraces(p.slice(0, m.index) + alt + p.slice(m.index + m[0].length)));
}

/** Backticked repository paths: contain a slash, no placeholders, not absolute system paths or URLs.
 * Each comes with the folder it may be relative to: the first folder named on its line (a table
 * row like "| `infra/` | `bin/run` … |"). */
function repoPaths(markdown: string): { path: string; base: string }[] {
  const out: { path: string; base: string }[] = [];
  for (const line of markdown.split("\n")) {
    let base = "";
    for (const m of line.matchAll(/`([^`\s]+)`/g)) {
      const p = m[1]!;
      if (!p.includes("/") || /[<>*…$~:=@]|^\/|^\.\.?$/.test(p)) continue;
      if (!/^[\w.{},/-]+$/.test(p) || p.startsWith("node_modules/")) continue;
      if (!base && p.endsWith("/")) base = p;
      for (const path of expandBraces(p)) out.push({ path, base });
    }
  }
  return out;
}

function npmScripts(markdown: string): string[] {
  return [...markdown.matchAll(/npm run (?:-s )?([\w:.-]+)/g)].map((m) => m[1]!);
}

describe("docs", () => {
  it.each(DOCS)("%s: every npm script it names exists", (doc) => {
    const text = readFileSync(join(ROOT, doc), "utf8");
    for (const s of npmScripts(text)) expect(scripts, `${doc} runs "npm run ${s}"`).toContain(s);
  });

  it.each(DOCS)("%s: every repository path it names exists", (doc) => {
    const text = readFileSync(join(ROOT, doc), "utf8");
    const exists = ({ path, base }: { path: string; base: string }) =>
      [join(ROOT, path), join(ROOT, dirname(doc), path), join(ROOT, base, path)].some((p) => existsSync(p));
    expect(
      repoPaths(text)
        .filter((p) => !exists(p))
        .map((p) => p.path),
      `${doc} names paths that do not exist`,
    ).toEqual([]);
  });

  it.each(DOCS)("%s: every relative link points at an existing file and heading", (doc) => {
    const text = readFileSync(join(ROOT, doc), "utf8");
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      const [file, anchor] = target.split("#") as [string, string | undefined];
      const path = file ? join(ROOT, dirname(doc), file) : join(ROOT, doc);
      expect(existsSync(path), `${doc} links ${target}`).toBe(true);
      if (anchor && path.endsWith(".md"))
        expect([...anchors(readFileSync(path, "utf8"))], `${doc} links ${target} (${relative(ROOT, path)})`).toContain(
          anchor,
        );
    }
  });

  it(".ci/run runs exactly the README's commands: install, check, test", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const shown = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
      m[1]!.split("\n").map((l) => l.replace(/\s+#.*$/, "").trim()),
    );
    const ci = readFileSync(join(ROOT, ".ci/run"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#") && !l.startsWith("set ") && !l.startsWith("cd "));
    expect(ci).toEqual(["infra/install", "npm run check", "npm test"]);
    for (const c of ci) expect(shown, `README shows ${c}`).toContain(c);
  });

  it("the README stays short", () => {
    expect(readFileSync(join(ROOT, "README.md"), "utf8").split("\n").length).toBeLessThanOrEqual(200);
  });

  it("the checker catches what it is meant to", () => {
    expect(
      repoPaths("see `test/support/{redis,worker}.ts` and `/usr/bin/x`, `room:<name>`\n| `infra/` | `a/b` |"),
    ).toEqual([
      { path: "test/support/redis.ts", base: "" },
      { path: "test/support/worker.ts", base: "" },
      { path: "infra/", base: "infra/" },
      { path: "a/b", base: "infra/" },
    ]);
    expect(npmScripts("run `npm run -s dns:sync -- --x` or npm run dev")).toEqual(["dns:sync", "dev"]);
    expect(slug("Selector scale (`bench/selector-scale.ts`)")).toBe("selector-scale-benchselector-scalets");
  });
});
