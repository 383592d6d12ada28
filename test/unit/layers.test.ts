// The layer order of src/ (README, Layout), checked from the imports themselves: a file may
// import only from its own layer or a lower one, and the two peers of one rank (admin, proxy) do
// not import each other.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Top to bottom. A layer is a set of rooms; rooms of one rank are peers. */
const LAYERS: ReadonlyArray<{
  readonly rank: number;
  readonly room: string;
  readonly paths: readonly string[];
}> = [
  { rank: 0, room: "runtime", paths: ["src/runtime/"] },
  { rank: 1, room: "app", paths: ["src/app.ts", "src/app/"] },
  { rank: 2, room: "config", paths: ["src/config/"] },
  { rank: 3, room: "admin", paths: ["src/admin/"] },
  { rank: 3, room: "proxy", paths: ["src/proxy/"] },
  { rank: 4, room: "pool", paths: ["src/pool/"] },
  { rank: 4, room: "routing", paths: ["src/routing/"] },
  { rank: 5, room: "health", paths: ["src/health/"] },
  { rank: 6, room: "balancer", paths: ["src/balancer/"] },
  { rank: 7, room: "state", paths: ["src/state/"] },
  { rank: 8, room: "shared", paths: ["src/shared/"] },
];

function layerOf(path: string) {
  return LAYERS.find((layer) => layer.paths.some((p) => (p.endsWith("/") ? path.startsWith(p) : path === p)));
}

/** Relative specifiers of static imports, re-exports and dynamic imports. */
function importsOf(source: string): string[] {
  const specifiers: string[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["']([^"']+)["']/gm;
  for (let match = pattern.exec(source); match; match = pattern.exec(source)) specifiers.push(match[1]!);
  return specifiers;
}

/** Every import of `files` (repository paths to source text) that breaks the layer order. */
function violations(files: ReadonlyMap<string, string>): string[] {
  const found: string[] = [];
  for (const [path, source] of files) {
    const from = layerOf(path);
    if (!from) {
      found.push(`${path} belongs to no layer`);
      continue;
    }
    for (const specifier of importsOf(source)) {
      if (!specifier.startsWith(".")) continue;
      const target = relative(ROOT, resolve(ROOT, dirname(path), specifier))
        .split("\\")
        .join("/");
      if (!target.startsWith("src/")) {
        found.push(`${path} imports ${target}: src/ never imports tests or scripts`);
        continue;
      }
      const to = layerOf(target);
      if (!to) found.push(`${path} imports ${target}, which belongs to no layer`);
      else if (to.rank < from.rank) found.push(`${path} (${from.room}) imports upward: ${target} (${to.room})`);
      else if (to.rank === from.rank && to.room !== from.room)
        found.push(`${path} (${from.room}) imports its peer ${to.room}: ${target}`);
    }
  }
  return found;
}

function sourceFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/\.(ts|js)$/.test(entry.name)) continue;
    const path = relative(ROOT, join(entry.parentPath, entry.name)).split("\\").join("/");
    files.set(path, readFileSync(join(ROOT, path), "utf8"));
  }
  return files;
}

describe("layers", () => {
  it("every file of src/ imports only its own layer or below", () => {
    const files = sourceFiles("src");
    expect(files.size).toBeGreaterThan(40);
    expect(violations(files)).toEqual([]);
  });

  it("zod enters src/ only through src/config/zod.ts, as zod/mini: classic zod does not tree-shake (454 KB)", () => {
    const zodImports = new Set(
      [...sourceFiles("src")].flatMap(([path, source]) =>
        importsOf(source)
          .filter((specifier) => specifier === "zod" || specifier.startsWith("zod/"))
          .map((specifier) => `${path}: ${specifier}`),
      ),
    );
    expect([...zodImports].sort()).toEqual(["src/config/zod.ts: zod/mini", "src/config/zod.ts: zod/v4/locales/en.js"]);
  });

  it("the check sees an upward import, a peer import and a file outside every layer", () => {
    const files = new Map([
      [
        "src/state/pool-state.ts",
        'import { probe } from "../health/probe.ts";\nimport type { X } from "../shared/backend.ts";',
      ],
      ["src/admin/status.ts", 'export { handleProxy } from "../proxy/handler.ts";'],
      ["src/proxy/forward.ts", 'const m = await import("../runtime/node.ts");'],
      ["src/elsewhere.ts", ""],
      ["src/health/probe.ts", 'import { x } from "../../test/support/fake.ts";'],
    ]);
    expect(violations(files)).toEqual([
      "src/state/pool-state.ts (state) imports upward: src/health/probe.ts (health)",
      "src/admin/status.ts (admin) imports its peer proxy: src/proxy/handler.ts",
      "src/proxy/forward.ts (proxy) imports upward: src/runtime/node.ts (runtime)",
      "src/elsewhere.ts belongs to no layer",
      "src/health/probe.ts imports test/support/fake.ts: src/ never imports tests or scripts",
    ]);
  });
});
