// Bundles the Worker entry the way wrangler does (ESM, workerd conditions) so miniflare and
// workerd can load it without wrangler. Used by the tests' global setup and the bench.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type BuildOptions, build } from "esbuild";

export const WORKER_BUNDLE = fileURLToPath(new URL("../dist/worker.js", import.meta.url));

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

export async function buildWorker(outfile = WORKER_BUNDLE): Promise<string> {
  await build({
    ...WORKER_BUILD_OPTIONS,
    entryPoints: [fileURLToPath(new URL("../src/runtime/worker.ts", import.meta.url))],
    outfile,
  });
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await buildWorker());
}
