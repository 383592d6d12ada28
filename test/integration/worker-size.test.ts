// The Worker as wrangler.toml deploys it (its [build] command runs scripts/build-worker.ts, and
// wrangler uploads the modules as built): what a new isolate loads and evaluates before its
// first request — the entry module and the chunks it imports statically — is at most 150 KB
// minified (issue 14), and holds neither @upstash/redis nor the dashboard's uPlot, which only a
// deployment that uses them imports.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWorker, WORKER_MAIN, type WorkerBuild } from "../../scripts/build-worker.ts";

const ROOT = new URL("../../", import.meta.url);
const MAX_STARTUP_BYTES = 150_000;

describe("the Worker's startup modules", () => {
  let dir: string;
  let worker: WorkerBuild;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-lb-worker-size-"));
    worker = await buildWorker(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The entry and every module it imports statically, transitively. */
  const startupModules = () => {
    const byName = new Map(worker.modules.map((module) => [module.name, module]));
    const seen = new Set<string>();
    const visit = (name: string) => {
      if (seen.has(name)) return;
      seen.add(name);
      for (const imported of byName.get(name)!.imports) visit(imported);
    };
    visit(worker.main);
    return [...seen].map((name) => byName.get(name)!);
  };
  const text = (name: string) => readFileSync(join(dir, name), "utf8");

  it("is what wrangler.toml uploads: its build command, its main, its module rules", () => {
    const toml = readFileSync(new URL("wrangler.toml", ROOT), "utf8");
    const scripts = JSON.parse(readFileSync(new URL("package.json", ROOT), "utf8")).scripts;
    expect(toml).toMatch(/^\[build\]\ncommand = "npm run build:worker"$/m);
    expect(scripts["build:worker"]).toBe("tsx scripts/build-worker.ts");
    expect(toml).toMatch(new RegExp(`^main = "dist/worker/${WORKER_MAIN}"$`, "m"));
    expect(toml).toMatch(/^no_bundle = true$/m);
    expect(toml).toMatch(/^find_additional_modules = true$/m);
    expect(toml).toMatch(/\{ type = "ESModule", globs = \["\*\*\/\*\.js"\]/);
    expect(toml).toMatch(/\{ type = "Text", globs = \["\*\*\/\*\.txt"\]/);
  });

  it("loads at most 150 KB of JavaScript before the first request", () => {
    const startup = startupModules();
    const bytes = startup.reduce((sum, module) => sum + module.bytes, 0);
    expect(startup.every((module) => module.type === "esModule")).toBe(true);
    expect(bytes).toBeLessThanOrEqual(MAX_STARTUP_BYTES);
  });

  it("keeps @upstash/redis and the dashboard's files out of the startup modules", () => {
    // @upstash/redis's own code: its telemetry headers and its user agent. (The word "upstash"
    // alone is in the entry: the config names the store, and the import of its chunk.)
    const upstashCode = /Upstash-Telemetry-Sdk|@upstash\/redis@/;
    const startup = startupModules();
    const offenders = startup
      .filter((module) => upstashCode.test(text(module.name)) || text(module.name).includes("uPlot"))
      .map((module) => module.name);
    expect(offenders).toEqual([]);
    // They are built, not dropped: a chunk of their own, and Text modules.
    const lazy = worker.modules.filter((module) => !startup.includes(module));
    expect(lazy.filter((module) => module.type === "esModule" && upstashCode.test(text(module.name)))).toHaveLength(1);
    const uplot = worker.modules.find((module) => module.name === "uplot.js.txt");
    expect(uplot?.type).toBe("text");
    expect(text("uplot.js.txt")).toMatch(/^\/\*! https:\/\/github\.com\/leeoniya\/uPlot/);
  });
});
