// `npm run bench`'s command line: flags to BenchOptions (run.ts says what each does).

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { BenchOptions } from "./run.ts";
import type { Runtime } from "./targets.ts";

export const USAGE =
  "usage: npm run bench [-- --quick | --tiny] [--out=DIR] [--load=wrk|node] [--connections=N] [--runtimes=workerd,node,bun,deno] [--no-proxies] [--no-picks] [--no-callgrind] [--rows=ID,ID] [--blocks=N] [--compare=FILE] [--profile | --no-profile]";
const RUNTIMES: readonly Runtime[] = ["workerd", "node", "bun", "deno"];

function benchFlags(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        quick: { type: "boolean" },
        tiny: { type: "boolean" },
        "no-proxies": { type: "boolean" },
        "no-picks": { type: "boolean" },
        "no-callgrind": { type: "boolean" },
        profile: { type: "boolean" },
        "no-profile": { type: "boolean" },
        out: { type: "string" },
        load: { type: "string" },
        connections: { type: "string" },
        runtimes: { type: "string" },
        rows: { type: "string" },
        blocks: { type: "string" },
        compare: { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${USAGE}`);
  }
}

export function parseBenchArgs(argv: readonly string[], root: string): BenchOptions {
  const values = benchFlags(argv);
  const { out, load, connections, compare, blocks } = values;
  if (out === "") throw new Error(`--out: expected a directory\n${USAGE}`);
  if (load !== undefined && load !== "wrk" && load !== "node") {
    throw new Error(`--load: expected wrk or node (got "${load}")\n${USAGE}`);
  }
  if (connections !== undefined && !/^\d+$/.test(connections)) {
    throw new Error(`--connections: expected a whole number (got "${connections}")\n${USAGE}`);
  }
  if (blocks !== undefined && (!/^\d+$/.test(blocks) || Number(blocks) < 1)) {
    throw new Error(`--blocks: expected a whole number of at least 1 (got "${blocks}")\n${USAGE}`);
  }
  if (compare !== undefined && !existsSync(compare)) {
    throw new Error(`--compare: no such file: ${compare} (an earlier bench/results/*.json)\n${USAGE}`);
  }
  if (values.profile && values["no-profile"]) throw new Error(`--profile and --no-profile: pick one\n${USAGE}`);
  const runtimes = values.runtimes?.split(",").filter(Boolean);
  for (const r of runtimes ?? []) {
    if (!RUNTIMES.includes(r as Runtime)) throw new Error(`--runtimes: unknown runtime ${r}`);
  }
  const tiny = values.tiny === true || process.env["BENCH_TINY"] === "1";
  const mode = tiny ? "tiny" : values.quick ? "quick" : "full";
  return {
    mode,
    outDir: resolve(out ?? join(root, "bench", "results")),
    ...(load ? { load } : {}),
    ...(connections ? { connections: Number(connections) } : {}),
    ...(blocks ? { blocks: Number(blocks) } : {}),
    ...(runtimes ? { runtimes: runtimes as Runtime[] } : {}),
    ...(values.rows ? { rows: values.rows.split(",").filter(Boolean) } : {}),
    ...(compare ? { compare: resolve(compare) } : {}),
    proxies: !values["no-proxies"],
    picks: !values["no-picks"],
    callgrind: !values["no-callgrind"],
    // Profiling restarts a server per runtime for a load of its own: on unless tiny or declined.
    profile: values.profile === true || (mode !== "tiny" && !values["no-profile"]),
  };
}
