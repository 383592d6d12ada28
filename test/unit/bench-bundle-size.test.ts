// The bench's Worker bundle size (scripts/bench/bundle-size.ts): from esbuild's metafile, the
// entry module's bytes and every module's, and who contributes them, for one output or several.
import type { Metafile } from "esbuild";
import { describe, expect, it } from "vitest";
import { bundleSizeOf, bundleTargets, contributorOf } from "../../scripts/bench/bundle-size.ts";

const input = (bytesInOutput: number) => ({ bytesInOutput });

describe("bundleSizeOf", () => {
  it("measures a single module", () => {
    const metafile = {
      inputs: {},
      outputs: {
        "out/worker.js": {
          bytes: 1000,
          entryPoint: "src/runtime/worker.ts",
          inputs: {
            "../main/node_modules/zod/v4/mini/schemas.js": input(500),
            "../main/node_modules/@upstash/redis/nodejs.mjs": input(200),
            "src/config/pools.ts": input(120),
            "src/config/env.ts": input(80),
            "src/runtime/worker.ts": input(50),
            "src/version.ts": input(0),
          },
          imports: [],
          exports: ["default"],
        },
      },
    } as unknown as Metafile;
    const size = bundleSizeOf(metafile, () => 400);
    expect(size).toEqual({
      entryBytes: 1000,
      startupBytes: 1000,
      entryGzipBytes: 400,
      totalBytes: 1000,
      modules: 1,
      contributors: [
        { name: "zod", bytes: 500 },
        { name: "@upstash/redis", bytes: 200 },
        { name: "src/config", bytes: 200 },
        { name: "src/runtime", bytes: 50 },
      ],
    });
  });

  it("reports the entry module and all modules of a split build, source maps aside", () => {
    const metafile = {
      inputs: {},
      outputs: {
        "out/chunk-ABC.js": { bytes: 3000, inputs: { "node_modules/@upstash/redis/a.js": input(2900) } },
        "out/worker.js": {
          bytes: 900,
          entryPoint: "src/runtime/worker.ts",
          inputs: { "src/runtime/worker.ts": input(800) },
          // DEF loads with the entry; ABC only on first import().
          imports: [
            { path: "out/chunk-DEF.js", kind: "import-statement" },
            { path: "out/chunk-ABC.js", kind: "dynamic-import" },
          ],
        },
        "out/worker.js.map": { bytes: 99_999, inputs: {} },
        "out/chunk-DEF.js": { bytes: 1000, inputs: { "node_modules/@upstash/redis/b.js": input(950) } },
      },
    } as unknown as Metafile;
    const size = bundleSizeOf(metafile);
    expect(size.entryBytes).toBe(900);
    expect(size.startupBytes).toBe(1900);
    expect(size.totalBytes).toBe(4900);
    expect(size.modules).toBe(3);
    expect(size.contributors[0]).toEqual({ name: "@upstash/redis", bytes: 3850 });
    const [target] = bundleTargets(size);
    expect(target!.met).toBe(true);
    expect(target!.value).toContain("all 3 JS modules 4.9 KB");
  });
});

describe("the bundle target", () => {
  const sized = (startupBytes: number) => ({
    entryBytes: startupBytes,
    startupBytes,
    entryGzipBytes: 0,
    totalBytes: startupBytes,
    modules: 1,
    contributors: [],
  });
  it("is met at 150 KB (150,000 bytes) and missed above", () => {
    expect(bundleTargets(sized(150_000))[0]!.met).toBe(true);
    expect(bundleTargets(sized(150_001))[0]!.met).toBe(false);
    expect(bundleTargets(undefined)).toEqual([]);
  });
});

describe("contributorOf", () => {
  it("names packages (scoped too) and our source folders", () => {
    expect(contributorOf("../main/node_modules/hono/dist/hono.js")).toBe("hono");
    expect(contributorOf("node_modules/@hono/node-server/dist/index.mjs")).toBe("@hono/node-server");
    expect(contributorOf("node_modules/a/node_modules/b/index.js")).toBe("b");
    expect(contributorOf("src/balancer/round-robin.ts")).toBe("src/balancer");
    expect(contributorOf("src/version.ts")).toBe("src/version.ts");
  });
});
