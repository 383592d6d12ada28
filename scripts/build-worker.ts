// Bundles the Worker entry the way wrangler does (ESM, workerd conditions) so miniflare and
// workerd can load it without wrangler. Used by the tests' global setup and the bench.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

export const WORKER_BUNDLE = fileURLToPath(new URL("../dist/worker.js", import.meta.url));

export async function buildWorker(outfile = WORKER_BUNDLE): Promise<string> {
  await build({
    entryPoints: [fileURLToPath(new URL("../src/runtime/worker.ts", import.meta.url))],
    outfile,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
    logLevel: "warning",
  });
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await buildWorker());
}
