// STATE=deno-kv is the Deno entry point's alone: other runtimes refuse it as a bad setting, and
// its adapter is reachable from no other entry point's imports (so no other bundle carries it).
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, PORTABLE_STATE_KINDS } from "../../src/config/load-config.ts";
import { STATE_KINDS } from "../../src/state/types.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BACKENDS = "http://127.0.0.1:8080";

function refusal(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

/** Every src/ file reachable from `entry` through relative imports. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    const source = readFileSync(join(ROOT, path), "utf8");
    for (const match of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.[^"']+)["']/gm)) {
      visit(
        relative(ROOT, resolve(ROOT, dirname(path), match[1]!))
          .split("\\")
          .join("/"),
      );
    }
  };
  visit(entry);
  return seen;
}

describe("STATE=deno-kv", () => {
  it("is refused by default (Node, Bun, Workers), naming the setting, the value and where it runs", () => {
    for (const [sources, field] of [
      [{ env: { BACKENDS, STATE: "deno-kv" } }, "STATE (state)"],
      [{ env: { BACKENDS }, flags: { state: "deno-kv" } }, "--state (state)"],
    ] as const) {
      const error = refusal(() => loadConfig(sources));
      expect(error.problems).toEqual([
        {
          field,
          value: "deno-kv",
          expected: `one of ${PORTABLE_STATE_KINDS.join(", ")} on this runtime (deno-kv runs on Deno only: npm run lb:deno)`,
        },
      ]);
    }
    expect(PORTABLE_STATE_KINDS).toEqual(["memory", "durable-object", "upstash", "kv"]);
  });

  it("is accepted where the runtime can open it, with DENO_KV_PATH or --deno-kv-path", () => {
    const config = loadConfig({
      env: { BACKENDS, STATE: "deno-kv", DENO_KV_PATH: "/tmp/a.sqlite" },
      stateKinds: STATE_KINDS,
    });
    expect([config.state, config.deno_kv_path]).toEqual(["deno-kv", "/tmp/a.sqlite"]);
    const flagged = loadConfig({
      env: { BACKENDS },
      flags: { state: "deno-kv", "deno-kv-path": "b.sqlite" },
      stateKinds: STATE_KINDS,
    });
    expect(flagged.deno_kv_path).toBe("b.sqlite");
    expect(loadConfig({ env: { BACKENDS, STATE: "deno-kv" }, stateKinds: STATE_KINDS }).deno_kv_path).toBeUndefined();
    expect(
      refusal(() => loadConfig({ env: { BACKENDS, DENO_KV_PATH: "" }, flags: { "deno-kv-path": "" } })).problems[0],
    ).toMatchObject({
      field: "--deno-kv-path (deno_kv_path)",
      expected: "expected a file path",
    });
  });

  it("has its adapter reachable from the Deno entry point only", () => {
    expect(reachable("src/runtime/deno.ts").has("src/state/deno-kv.ts")).toBe(true);
    for (const entry of ["src/runtime/worker.ts", "src/runtime/node.ts", "src/runtime/bun.ts"]) {
      const files = reachable(entry);
      expect(files.size, entry).toBeGreaterThan(20);
      expect(files.has("src/state/deno-kv.ts"), entry).toBe(false);
    }
  });
});
