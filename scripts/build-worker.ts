// Bundles the Worker entry the way wrangler does (ESM, workerd conditions) so miniflare and
// workerd can load it without wrangler. Used by the tests' global setup and the bench.

import { fileURLToPath } from "node:url";
import { type BuildOptions, build } from "esbuild";

export const WORKER_BUNDLE = fileURLToPath(new URL("../dist/worker.js", import.meta.url));

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
