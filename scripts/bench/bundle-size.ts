// The minified Worker's size: what a new isolate parses before its first request. Built with
// the Worker's own esbuild options plus minify, with a metafile so that the bytes can be told
// by package (node_modules/<name>) or by folder of ours (src/<folder>). Written for one output
// module or several (a build with splitting: an entry plus lazily imported chunks).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build, type Metafile } from "esbuild";
import { WORKER_BUILD_OPTIONS } from "../build-worker.ts";
import { table } from "./cells.ts";
import type { TargetCheck } from "./report.ts";

export interface BundleSize {
  /** The entry module's bytes, minified (what workerd evaluates at start). */
  readonly entryBytes: number;
  readonly entryGzipBytes: number;
  /** Every output module's bytes together (the entry alone when the build makes one module). */
  readonly totalBytes: number;
  readonly modules: number;
  /** Bytes in the output by package or source folder, largest first (all modules together). */
  readonly contributors: readonly { readonly name: string; readonly bytes: number }[];
}

export const BUNDLE_HEADING = "## Worker bundle";
/** Issue 14: the minified Worker bundle is at most 150 KB. */
const TARGET_BYTES = 150_000;
const WORKER_ENTRY = fileURLToPath(new URL("../../src/runtime/worker.ts", import.meta.url));

export async function measureWorkerBundle(): Promise<BundleSize> {
  const outdir = mkdtempSync(join(tmpdir(), "edge-lb-bundle-"));
  try {
    const result = await build({
      ...WORKER_BUILD_OPTIONS,
      entryPoints: [WORKER_ENTRY],
      outdir,
      minify: true,
      metafile: true,
      write: false,
    });
    const gzip = new Map(result.outputFiles.map((file) => [file.path, gzipSync(file.contents).length]));
    return bundleSizeOf(result.metafile, (path) => gzip.get(join(process.cwd(), path)) ?? gzip.get(path) ?? 0);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Sizes from an esbuild metafile: the entry module's, all modules', and who contributes what. */
export function bundleSizeOf(metafile: Metafile, gzipBytesOf: (outputPath: string) => number = () => 0): BundleSize {
  const outputs = Object.entries(metafile.outputs).filter(([path]) => !path.endsWith(".map"));
  const entry = outputs.find(([, output]) => output.entryPoint !== undefined) ?? outputs[0];
  if (!entry) throw new Error("the Worker build wrote no module");
  const byName = new Map<string, number>();
  for (const [, output] of outputs) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = contributorOf(input);
      byName.set(name, (byName.get(name) ?? 0) + bytesInOutput);
    }
  }
  return {
    entryBytes: entry[1].bytes,
    entryGzipBytes: gzipBytesOf(entry[0]),
    totalBytes: outputs.reduce((sum, [, output]) => sum + output.bytes, 0),
    modules: outputs.length,
    contributors: [...byName.entries()]
      .map(([name, bytes]) => ({ name, bytes }))
      .filter((c) => c.bytes > 0)
      .sort((a, b) => b.bytes - a.bytes),
  };
}

/** node_modules/@scope/name/… → @scope/name; node_modules/name/… → name; src/folder/… → src/folder. */
export function contributorOf(input: string): string {
  const modules = input.lastIndexOf("node_modules/");
  if (modules !== -1) {
    const parts = input.slice(modules + "node_modules/".length).split("/");
    return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const src = /(?:^|\/)src\/([^/]+)\//.exec(input);
  if (src) return `src/${src[1]}`;
  return input.replace(/^(\.\.\/)+/, "");
}

const kb = (bytes: number) => `${(bytes / 1000).toFixed(1)} KB`;

export function bundleTargets(bundle: BundleSize | undefined): TargetCheck[] {
  if (!bundle) return [];
  return [
    {
      target: `minified Worker bundle ≤ ${TARGET_BYTES / 1000} KB (the entry module, parsed by every new isolate)`,
      value:
        `${kb(bundle.entryBytes)} (${bundle.entryBytes} bytes, ${kb(bundle.entryGzipBytes)} gzip)` +
        (bundle.modules > 1 ? `; all ${bundle.modules} modules ${kb(bundle.totalBytes)}` : ""),
      met: bundle.entryBytes <= TARGET_BYTES,
    },
  ];
}

export function bundleMarkdown(bundle: BundleSize | undefined, top = 8): string[] {
  if (!bundle) return [];
  const shown = bundle.contributors.slice(0, top);
  const rest = bundle.contributors.slice(top).reduce((sum, c) => sum + c.bytes, 0);
  const rows = shown.map((c) => [c.name, String(c.bytes), ((100 * c.bytes) / bundle.totalBytes).toFixed(1)]);
  if (rest > 0) rows.push(["(the rest)", String(rest), ((100 * rest) / bundle.totalBytes).toFixed(1)]);
  return [
    BUNDLE_HEADING,
    "",
    `src/runtime/worker.ts built with scripts/build-worker.ts's options plus \`minify: true\`: entry module ${kb(bundle.entryBytes)} ` +
      `(${kb(bundle.entryGzipBytes)} gzip)` +
      (bundle.modules > 1
        ? `; ${bundle.modules} modules, ${kb(bundle.totalBytes)} in all (the others load on first import).`
        : ", one module.") +
      " Largest contributors (bytes in the output, all modules):",
    "",
    table(["package or folder", "bytes", "% of output"], rows, 1),
    "",
  ];
}
