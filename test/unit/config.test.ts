import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, type ConfigSources } from "../../src/config.ts";

const ok = "http://127.0.0.1:3031";

/** Each row: a bad configuration, the field its error must name, and a fragment of the reason. */
const BAD: ReadonlyArray<{ name: string; sources: ConfigSources; field: string; says: RegExp }> = [
  { name: "ftp backend", sources: { env: { BACKENDS: "ftp://files.example" } }, field: "BACKENDS (pools[0].backends[0].url)", says: /http or https/ },
  { name: "not a URL", sources: { env: { BACKENDS: "not a url" } }, field: "BACKENDS (pools[0].backends[0].url)", says: /absolute http/ },
  { name: "credentials", sources: { env: { BACKENDS: "http://user:pw@a.example" } }, field: "BACKENDS (pools[0].backends[0].url)", says: /credentials/ },
  { name: "fragment", sources: { env: { BACKENDS: "http://a.example/#x" } }, field: "BACKENDS (pools[0].backends[0].url)", says: /fragment/ },
  { name: "query string", sources: { env: { BACKENDS: "http://a.example/?x=1" } }, field: "BACKENDS (pools[0].backends[0].url)", says: /query/ },
  { name: "duplicate URL", sources: { env: { BACKENDS: `${ok},${ok}/` } }, field: "BACKENDS (pools[0].backends[1].url)", says: /once/ },
  { name: "empty list item", sources: { env: { BACKENDS: `${ok},,http://b.example` } }, field: "BACKENDS", says: /empty items/ },
  { name: "weight zero", sources: { env: { BACKENDS: `${ok}|weight=0` } }, field: "BACKENDS (pools[0].backends[0].weight)", says: />=1/ },
  { name: "weight not a number", sources: { env: { BACKENDS: `${ok}|weight=heavy` } }, field: "BACKENDS (pools[0].backends[0].weight)", says: /number/ },
  { name: "weight fractional", sources: { env: { BACKENDS: `${ok}|weight=1.5` } }, field: "BACKENDS (pools[0].backends[0].weight)", says: /int/ },
  { name: "unknown backend option", sources: { env: { BACKENDS: `${ok}|heavy` } }, field: "BACKENDS", says: /weight=N, backup/ },
  { name: "unknown algorithm", sources: { env: { BACKENDS: ok, ALGORITHM: "random" } }, field: "ALGORITHM (pools[0].algorithm)", says: /round-robin/ },
  { name: "no backends at all", sources: { env: {} }, field: "pools[0].backends", says: /expected array/ },
  { name: "timeout not a number", sources: { env: { BACKENDS: ok, TIMEOUT_MS: "soon" } }, field: "TIMEOUT_MS (pools[0].timeout_ms)", says: /number/ },
  { name: "negative timeout", sources: { env: { BACKENDS: ok, TIMEOUT_MS: "-5" } }, field: "TIMEOUT_MS (pools[0].timeout_ms)", says: />=1/ },
  { name: "bad boolean", sources: { env: { BACKENDS: ok, PRESERVE_HOST: "maybe" } }, field: "PRESERVE_HOST", says: /true or false/ },
  { name: "unknown state", sources: { env: { BACKENDS: ok, STATE: "postgres" } }, field: "STATE (state)", says: /memory/ },
  { name: "bad hash key", sources: { env: { BACKENDS: ok, HASH_KEY: "query:x" } }, field: "HASH_KEY", says: /header:NAME/ },
  { name: "sequence batch zero", sources: { env: { BACKENDS: ok, SEQUENCE_BATCH: "0" } }, field: "SEQUENCE_BATCH (sequence_batch)", says: />=1/ },
  { name: "LB_CONFIG not JSON", sources: { env: { LB_CONFIG: "{pools:" } }, field: "LB_CONFIG", says: /valid JSON/ },
  { name: "LB_CONFIG not an object", sources: { env: { LB_CONFIG: "[1,2]" } }, field: "LB_CONFIG", says: /JSON object/ },
  { name: "unknown key in JSON", sources: { env: { LB_CONFIG: JSON.stringify({ pools: [{ backends: [{ url: ok }], retries: 3 }] }) } }, field: "LB_CONFIG (pools[0].retries)", says: /unknown key/ },
  { name: "duplicate backend names", sources: { json: { label: "--config lb.json", text: JSON.stringify({ pools: [{ backends: [{ url: ok, name: "x" }, { url: "http://b.example", name: "x" }] }] }) } }, field: "--config lb.json (pools[0].backends[1].name)", says: /unique/ },
  { name: "two pools", sources: { env: { LB_CONFIG: JSON.stringify({ pools: [{ backends: [{ url: ok }] }, { backends: [{ url: ok }] }] }) } }, field: "LB_CONFIG (pools)", says: /exactly one pool/ },
  { name: "max attempts too high", sources: { flags: { backends: ok, "max-attempts": "50" } }, field: "--max-attempts (pools[0].retry.max_attempts)", says: /<=10/ },
  { name: "bad flag algorithm", sources: { flags: { backends: ok, algorithm: "roundrobin" } }, field: "--algorithm (pools[0].algorithm)", says: /round-robin/ },
];

describe("bad configuration is refused with the field, the value and what was expected", () => {
  it("has at least 15 cases", () => expect(BAD.length).toBeGreaterThanOrEqual(15));

  it.each(BAD)("$name", ({ sources, field, says }) => {
    let error: unknown;
    try {
      loadConfig(sources);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    const problem = problems.find((p) => p.field === field);
    expect(problem, `fields named: ${problems.map((p) => p.field).join(", ")}`).toBeDefined();
    expect(problem!.expected).toMatch(says);
    expect((error as ConfigError).message).toContain(field);
  });
});

describe("configuration sources, later wins", () => {
  it("parses BACKENDS with weights, backup and names, normalising URLs", () => {
    const config = loadConfig({ env: { BACKENDS: "http://a.example:8080/,https://b.example|weight=3|name=bee,http://c.example|backup" } });
    expect(config.pools[0]!.backends).toEqual([
      { name: "a.example:8080", url: "http://a.example:8080", weight: 1, backup: false },
      { name: "bee", url: "https://b.example", weight: 3, backup: false },
      { name: "c.example:80", url: "http://c.example", weight: 1, backup: true },
    ]);
  });

  it("applies defaults", () => {
    const pool = loadConfig({ env: { BACKENDS: ok } }).pools[0]!;
    expect(pool.algorithm).toBe("round-robin");
    expect(pool.timeout_ms).toBe(30_000);
    expect(pool.retry).toEqual({ max_attempts: 3, max_body_bytes: 65_536, budget_percent: 20, budget_reserve: 10 });
    expect(pool.hash_key).toEqual({ source: "ip" });
    expect(pool.preserve_host).toBe(false);
  });

  it("lets LB_CONFIG override env, a JSON file override LB_CONFIG, and flags override both", () => {
    const config = loadConfig({
      env: { BACKENDS: ok, ALGORITHM: "ip-hash", TIMEOUT_MS: "1000", LB_CONFIG: JSON.stringify({ pools: [{ algorithm: "least-connections", timeout_ms: 2000 }] }) },
      json: { label: "--config f.json", text: JSON.stringify({ pools: [{ timeout_ms: 3000 }], state: "memory" }) },
      flags: { algorithm: "weighted-round-robin", "hash-key": "cookie:sid" },
    });
    const pool = config.pools[0]!;
    expect(pool.backends.map((b) => b.url)).toEqual([ok]);
    expect(pool.timeout_ms).toBe(3000);
    expect(pool.algorithm).toBe("weighted-round-robin");
    expect(pool.hash_key).toEqual({ source: "cookie", name: "sid" });
  });

  it("names every problem at once, not just the first", () => {
    try {
      loadConfig({ env: { BACKENDS: "ftp://x,http://y|weight=0", ALGORITHM: "nope" } });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems.map((p) => p.field).sort()).toEqual([
        "ALGORITHM (pools[0].algorithm)",
        "BACKENDS (pools[0].backends[0].url)",
        "BACKENDS (pools[0].backends[1].weight)",
      ]);
    }
  });
});
