// Builds the Worker: the tests' global setup, the bench and wrangler itself (wrangler.toml's
// [build] command, with no_bundle) all run this, so miniflare, workerd and a deployment load the
// same modules. `npm run build:worker` writes them to dist/worker/.
//
// Why not wrangler's own bundling: it makes one module of everything a dynamic import() reaches,
// so every isolate would evaluate @upstash/redis whatever the store. Here esbuild splits the
// store adapters a deployment may not use into modules of their own (code splitting), and the
// dashboard's static files (uPlot, its script and stylesheet) become Text modules, which workerd
// gives the isolate as strings without compiling them. What an isolate evaluates before its first
// request is the entry module and the chunks it imports statically:
// test/integration/worker-size.test.ts holds that to 150 KB minified. (workerd's default module
// registry still compiles every uploaded ES module at isolate start; README, The Worker's size.)

import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildOptions, build, type Metafile, type Plugin } from "esbuild";
import { DASHBOARD_SOURCES } from "../src/admin/dashboard-sources.ts";

/** Where `npm run build:worker` (and so wrangler.toml's main) puts the Worker's modules. */
export const WORKER_DIR = fileURLToPath(new URL("../dist/worker/", import.meta.url));
/** The entry module, main in wrangler.toml; the other modules sit beside it. */
export const WORKER_MAIN = "worker.js";

/**
 * How miniflare and wrangler (rules in wrangler.toml) must type the modules beside the entry:
 * every .js an ES module (esbuild's chunks), every .txt a Text module.
 */
export const WORKER_MODULE_RULES = [
  { type: "ESModule", include: ["**/*.js"] },
  { type: "Text", include: ["**/*.txt"] },
] as const;

/**
 * wrangler.toml's compatibility date and flags, so miniflare and workerd run the bundle as a
 * deployment does (enable_request_signal, for one, changes what a client going away does).
 */
export const WORKER_COMPATIBILITY = compatibilityOf(
  readFileSync(fileURLToPath(new URL("../wrangler.toml", import.meta.url)), "utf8"),
);

function compatibilityOf(toml: string): { date: string; flags: string[] } {
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  const flags = /^compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1];
  if (!date || flags === undefined) throw new Error("wrangler.toml names no compatibility_date or compatibility_flags");
  return { date, flags: [...flags.matchAll(/"([^"]+)"/g)].map((match) => match[1]!) };
}

/** How wrangler would bundle for workerd; shared by every bundle made for miniflare or workerd. */
export const WORKER_BUILD_OPTIONS = {
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["module", "main"],
  external: ["cloudflare:*", "node:*"],
  logLevel: "warning",
} as const satisfies BuildOptions;

export interface WorkerModule {
  /** Path relative to the build's directory, as the modules import it. */
  readonly name: string;
  readonly type: "esModule" | "text";
  readonly bytes: number;
  /** The modules of this build it imports statically (loaded and evaluated with it). */
  readonly imports: readonly string[];
}

export interface WorkerBuild {
  readonly dir: string;
  /** The entry module's name (WORKER_MAIN), first in `modules`. */
  readonly main: string;
  readonly modules: readonly WorkerModule[];
  /** esbuild's account of the build: which input went into which module (the bench's size table). */
  readonly metafile: Metafile;
}

/**
 * Builds the Worker into `dir` (emptied first: wrangler uploads every .js and .txt it finds
 * there, and an old chunk would go with them). Minified, as deployed.
 */
export async function buildWorker(dir = WORKER_DIR, { minify = true } = {}): Promise<WorkerBuild> {
  rmSync(dir, { recursive: true, force: true });
  const result = await build({
    ...WORKER_BUILD_OPTIONS,
    entryPoints: { worker: fileURLToPath(new URL("../src/runtime/worker.ts", import.meta.url)) },
    outdir: dir,
    splitting: true,
    // Unminified only for the bench's CPU profile, whose names and module comments it reads.
    minify,
    chunkNames: "[name]-[hash]",
    metafile: true,
    plugins: [dashboardTextModules()],
  });
  const texts = Object.entries(DASHBOARD_SOURCES).map(([file, body]) => {
    writeFileSync(join(dir, textModuleName(file)), body);
    return textModuleName(file);
  });
  const nameOf = (output: string) => relative(dir, resolve(output));
  const modules: WorkerModule[] = [
    ...Object.entries(result.metafile.outputs).map(([output, meta]) => ({
      name: nameOf(output),
      type: "esModule" as const,
      imports: meta.imports
        .filter((imported) => imported.kind === "import-statement" && !imported.external)
        .map((imported) => nameOf(imported.path)),
    })),
    ...texts.map((name) => ({ name, type: "text" as const, imports: [] })),
  ]
    .map((module) => ({ ...module, bytes: statSync(join(dir, module.name)).size }))
    .sort((a, b) => Number(b.name === WORKER_MAIN) - Number(a.name === WORKER_MAIN));
  return { dir, main: WORKER_MAIN, modules, metafile: result.metafile };
}

const textModuleName = (file: string) => `${file}.txt`;

/**
 * Replaces src/admin/dashboard-sources.ts, in this build only, by a module that imports each body
 * from its Text module (written beside the entry by buildWorker).
 */
function dashboardTextModules(): Plugin {
  return {
    name: "dashboard-text-modules",
    setup(build) {
      build.onResolve({ filter: /(^|\/)dashboard-sources\.ts$/ }, (args) => ({
        path: args.path,
        namespace: "dashboard-text-modules",
      }));
      build.onLoad({ filter: /.*/, namespace: "dashboard-text-modules" }, () => {
        const files = Object.keys(DASHBOARD_SOURCES);
        return {
          loader: "js",
          contents: [
            ...files.map((file, i) => `import body${i} from ${JSON.stringify(`./${textModuleName(file)}`)};`),
            `export const DASHBOARD_SOURCES = { ${files.map((file, i) => `${JSON.stringify(file)}: body${i}`).join(", ")} };`,
          ].join("\n"),
        };
      });
      build.onResolve({ filter: /\.txt$/, namespace: "dashboard-text-modules" }, (args) => ({
        path: args.path,
        external: true,
      }));
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { dir, modules } = await buildWorker();
  for (const module of modules)
    console.log(`${String(module.bytes).padStart(8)}  ${module.type.padEnd(8)}  ${join(dir, module.name)}`);
}
