// The minified Worker's size: what a new isolate parses before its first request. Built with
// the Worker's own esbuild options plus minify, with a metafile so that the bytes can be told
// by package (node_modules/<name>) or by folder of ours (src/<folder>). Written for one output
// module or several (a build with splitting: an entry plus lazily imported chunks).

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { gzipSync } from "node:zlib";
import type { Metafile } from "esbuild";
import type { WorkerBuild } from "../build-worker.ts";
import { table } from "./cells.ts";
import type { TargetCheck } from "./report.ts";

export interface BundleSize {
  /** The entry module's bytes, minified (what workerd evaluates at start). */
  readonly entryBytes: number;
  readonly entryGzipBytes: number;
  /**
   * The entry and every module it imports statically: what an isolate loads and runs before its
   * first request (the 150 KB). workerd still compiles the other modules at start.
   */
  readonly startupBytes: number;
  /** Every output module's bytes together (the entry alone when the build makes one module). */
  readonly totalBytes: number;
  readonly modules: number;
  /** Text modules (the dashboard's files): uploaded, never compiled as JavaScript. */
  readonly textBytes?: number;
  /** Bytes in the output by package or source folder, largest first (all modules together). */
  readonly contributors: readonly { readonly name: string; readonly bytes: number }[];
}

export const BUNDLE_HEADING = "## Worker bundle";
/** Issue 14: the minified Worker bundle is at most 150 KB. */
const TARGET_BYTES = 150_000;

/** The sizes of the Worker as scripts/build-worker.ts built it for this run (as deployed). */
export function measureWorkerBundle(worker: WorkerBuild): BundleSize {
  const gzipOf = (output: string) => {
    try {
      return gzipSync(readFileSync(resolve(output))).length;
    } catch {
      return 0;
    }
  };
  const texts = worker.modules.filter((module) => module.type === "text");
  return {
    ...bundleSizeOf(worker.metafile, gzipOf),
    textBytes: texts.reduce((sum, module) => sum + module.bytes, 0),
  };
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
  const byPath = new Map(outputs);
  const startup = new Set<string>();
  const visit = (path: string) => {
    const output = byPath.get(path);
    if (!output || startup.has(path)) return;
    startup.add(path);
    for (const imported of output.imports ?? []) if (imported.kind === "import-statement") visit(imported.path);
  };
  visit(entry[0]);
  return {
    entryBytes: entry[1].bytes,
    startupBytes: [...startup].reduce((sum, path) => sum + byPath.get(path)!.bytes, 0),
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
      target: `minified Worker bundle ≤ ${TARGET_BYTES / 1000} KB (the entry and its static imports: what runs before the first request)`,
      value:
        `${kb(bundle.startupBytes)} (${bundle.startupBytes} bytes; entry ${kb(bundle.entryBytes)}, ${kb(bundle.entryGzipBytes)} gzip)` +
        (bundle.modules > 1 ? `; all ${bundle.modules} JS modules ${kb(bundle.totalBytes)}` : "") +
        (bundle.textBytes ? ` + ${kb(bundle.textBytes)} of Text modules` : ""),
      met: bundle.startupBytes <= TARGET_BYTES,
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
    `The Worker as scripts/build-worker.ts builds it for wrangler (minified, split): ${kb(bundle.startupBytes)} load and run ` +
      `before the first request (entry ${kb(bundle.entryBytes)}, ${kb(bundle.entryGzipBytes)} gzip, plus its static imports)` +
      (bundle.modules > 1
        ? `; ${bundle.modules} JavaScript modules, ${kb(bundle.totalBytes)} in all (the others run on first import; workerd still compiles every uploaded module when an isolate starts).`
        : ", one module.") +
      (bundle.textBytes ? ` The dashboard's files, ${kb(bundle.textBytes)}, are Text modules, never compiled.` : "") +
      " Largest contributors (bytes in the output, all JavaScript modules):",
    "",
    table(["package or folder", "bytes", "% of output"], rows, 1),
    "",
  ];
}
