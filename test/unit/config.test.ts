import { describe, expect, it } from "vitest";
import { ConfigError, type ConfigSources, loadConfig } from "../../src/config/load-config.ts";

const ok = "http://127.0.0.1:3031";

/** Each row: a bad configuration, the field its error must name, and a fragment of the reason. */
const BAD: ReadonlyArray<{ name: string; sources: ConfigSources; field: string; says: RegExp }> = [
  {
    name: "ftp backend",
    sources: { env: { BACKENDS: "ftp://files.example" } },
    field: "BACKENDS (pools[0].backends[0].url)",
    says: /http or https/,
  },
  {
    name: "not a URL",
    sources: { env: { BACKENDS: "not a url" } },
    field: "BACKENDS (pools[0].backends[0].url)",
    says: /absolute http/,
  },
  {
    name: "credentials",
    sources: { env: { BACKENDS: "http://user:pw@a.example" } },
    field: "BACKENDS (pools[0].backends[0].url)",
    says: /credentials/,
  },
  {
    name: "fragment",
    sources: { env: { BACKENDS: "http://a.example/#x" } },
    field: "BACKENDS (pools[0].backends[0].url)",
    says: /fragment/,
  },
  {
    name: "query string",
    sources: { env: { BACKENDS: "http://a.example/?x=1" } },
    field: "BACKENDS (pools[0].backends[0].url)",
    says: /query/,
  },
  {
    name: "duplicate URL",
    sources: { env: { BACKENDS: `${ok},${ok}/` } },
    field: "BACKENDS (pools[0].backends[1].url)",
    says: /once/,
  },
  {
    name: "empty list item",
    sources: { env: { BACKENDS: `${ok},,http://b.example` } },
    field: "BACKENDS",
    says: /empty items/,
  },
  {
    name: "weight zero",
    sources: { env: { BACKENDS: `${ok}|weight=0` } },
    field: "BACKENDS (pools[0].backends[0].weight)",
    says: />=1/,
  },
  {
    name: "weight not a number",
    sources: { env: { BACKENDS: `${ok}|weight=heavy` } },
    field: "BACKENDS (pools[0].backends[0].weight)",
    says: /number/,
  },
  {
    name: "weight fractional",
    sources: { env: { BACKENDS: `${ok}|weight=1.5` } },
    field: "BACKENDS (pools[0].backends[0].weight)",
    says: /int/,
  },
  {
    name: "unknown backend option",
    sources: { env: { BACKENDS: `${ok}|heavy` } },
    field: "BACKENDS",
    says: /weight=N, backup/,
  },
  {
    name: "unknown algorithm",
    sources: { env: { BACKENDS: ok, ALGORITHM: "no-such-algorithm" } },
    field: "ALGORITHM (pools[0].algorithm)",
    says: /round-robin/,
  },
  { name: "no backends at all", sources: { env: {} }, field: "pools[0].backends", says: /expected array/ },
  {
    name: "timeout not a number",
    sources: { env: { BACKENDS: ok, TIMEOUT_MS: "soon" } },
    field: "TIMEOUT_MS (pools[0].timeout_ms)",
    says: /number/,
  },
  {
    name: "negative timeout",
    sources: { env: { BACKENDS: ok, TIMEOUT_MS: "-5" } },
    field: "TIMEOUT_MS (pools[0].timeout_ms)",
    says: />=1/,
  },
  {
    name: "bad boolean",
    sources: { env: { BACKENDS: ok, PRESERVE_HOST: "maybe" } },
    field: "PRESERVE_HOST",
    says: /true or false/,
  },
  {
    name: "unknown state",
    sources: { env: { BACKENDS: ok, STATE: "postgres" } },
    field: "STATE (state)",
    says: /memory/,
  },
  {
    name: "bad hash key",
    sources: { env: { BACKENDS: ok, HASH_KEY: "query:x" } },
    field: "HASH_KEY",
    says: /header:NAME/,
  },
  {
    name: "sequence batch zero",
    sources: { env: { BACKENDS: ok, SEQUENCE_BATCH: "0" } },
    field: "SEQUENCE_BATCH (sequence_batch)",
    says: />=1/,
  },
  { name: "LB_CONFIG not JSON", sources: { env: { LB_CONFIG: "{pools:" } }, field: "LB_CONFIG", says: /valid JSON/ },
  {
    name: "LB_CONFIG not an object",
    sources: { env: { LB_CONFIG: "[1,2]" } },
    field: "LB_CONFIG",
    says: /JSON object/,
  },
  {
    name: "unknown key in JSON",
    sources: { env: { LB_CONFIG: JSON.stringify({ pools: [{ backends: [{ url: ok }], retries: 3 }] }) } },
    field: "LB_CONFIG (pools[0].retries)",
    says: /unknown key/,
  },
  {
    name: "duplicate backend names",
    sources: {
      json: {
        label: "--config lb.json",
        text: JSON.stringify({
          pools: [
            {
              backends: [
                { url: ok, name: "x" },
                { url: "http://b.example", name: "x" },
              ],
            },
          ],
        }),
      },
    },
    field: "--config lb.json (pools[0].backends[1].name)",
    says: /unique/,
  },
  {
    name: "two pools with one name",
    sources: {
      env: { LB_CONFIG: JSON.stringify({ pools: [{ backends: [{ url: ok }] }, { backends: [{ url: ok }] }] }) },
    },
    field: "LB_CONFIG (pools[1].name)",
    says: /unique pool names; it repeats pools\[0\]/,
  },
  {
    name: "max attempts too high",
    sources: { flags: { backends: ok, "max-attempts": "50" } },
    field: "--max-attempts (pools[0].retry.max_attempts)",
    says: /<=10/,
  },
  {
    name: "negative upstream connections",
    sources: { env: { BACKENDS: ok, UPSTREAM_CONNECTIONS: "-1" } },
    field: "UPSTREAM_CONNECTIONS (upstream_connections)",
    says: />=0/,
  },
  {
    name: "bad flag algorithm",
    sources: { flags: { backends: ok, algorithm: "roundrobin" } },
    field: "--algorithm (pools[0].algorithm)",
    says: /round-robin/,
  },
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
    const config = loadConfig({
      env: { BACKENDS: "http://a.example:8080/,https://b.example|weight=3|name=bee,http://c.example|backup" },
    });
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
    expect(loadConfig({ env: { BACKENDS: ok } }).upstream_connections).toBe(0);
    expect(loadConfig({ env: { BACKENDS: ok }, flags: { "upstream-connections": "64" } }).upstream_connections).toBe(
      64,
    );
  });

  it("lets LB_CONFIG override env, a JSON file override LB_CONFIG, and flags override both", () => {
    const config = loadConfig({
      env: {
        BACKENDS: ok,
        ALGORITHM: "ip-hash",
        TIMEOUT_MS: "1000",
        LB_CONFIG: JSON.stringify({ pools: [{ algorithm: "least-connections", timeout_ms: 2000 }] }),
      },
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

describe("config errors never print a secret", () => {
  const TOKEN = "adm1n-t0ken-SHOULD-NOT-LEAK-0123456789";
  const PASSWORD = "s3cretpass";
  const UPSTASH = "AYQgASQgODk3ZS00ZDYzLWI4NjAtSECRET-upstash-token";

  function refusal(sources: ConfigSources): ConfigError {
    try {
      loadConfig(sources);
    } catch (error) {
      if (error instanceof ConfigError) return error;
      throw error;
    }
    throw new Error("the configuration was accepted");
  }

  /** Neither the message nor the structured problems carry `secrets`; the message names `field`. */
  function expectSafe(error: ConfigError, field: string, secrets: readonly string[]) {
    expect(error.message).toContain(field);
    for (const secret of secrets) {
      expect(error.message).not.toContain(secret);
      expect(JSON.stringify(error.problems)).not.toContain(secret);
    }
  }

  it("an admin_token inside an invalid LB_CONFIG: the bad field is named, the token is not printed", () => {
    const error = refusal({
      env: {
        LB_CONFIG: JSON.stringify({ admin_token: TOKEN, pools: [{ backends: [{ url: ok }], algorithm: "fastest" }] }),
      },
    });
    expectSafe(error, "LB_CONFIG (pools[0].algorithm)", [TOKEN]);
    expect(error.message).toContain('"fastest"');
    expect(error.message).toMatch(/round-robin/);
  });

  it("an admin_token that is itself invalid prints <redacted>", () => {
    const error = refusal({ env: { BACKENDS: ok, LB_CONFIG: JSON.stringify({ admin_token: "short-s3cret" }) } });
    expectSafe(error, "LB_CONFIG (admin_token)", ["short-s3cret"]);
    expect(error.message).toContain("at least 16 characters (got <redacted>)");
  });

  it("a credentialed backend URL is named with its credentials replaced", () => {
    const error = refusal({ env: { BACKENDS: `http://user:${PASSWORD}@a.example:8080/base` } });
    expectSafe(error, "BACKENDS (pools[0].backends[0].url)", [PASSWORD]);
    expect(error.message).toContain('"http://<redacted>@a.example:8080/base"');
    expect(error.problems[0]!.value).toBe("http://<redacted>@a.example:8080/base");
  });

  it("credentials echoed by a BACKENDS parse error, and a user@ without password, are replaced too", () => {
    const error = refusal({ env: { BACKENDS: `http://user:${PASSWORD}@a.example|heavy,https://deploy@b.example` } });
    expectSafe(error, "BACKENDS", [PASSWORD, "deploy@"]);
    expect(error.message).toContain("https://<redacted>@b.example");
    expect(error.message).toContain("http://<redacted>@a.example");
  });

  it("an Upstash-like token in a secret-named variable or nested in a JSON value is redacted", () => {
    const direct = new ConfigError([
      { field: "UPSTASH_REDIS_REST_TOKEN", value: UPSTASH, expected: "the Upstash REST token" },
    ]);
    expectSafe(direct, "UPSTASH_REDIS_REST_TOKEN", [UPSTASH]);
    expect(direct.message).toContain("(got <redacted>)");

    // `pools` must be an array, so zod reports the whole object: a secret key inside it is hidden.
    const nested = refusal({
      env: {
        LB_CONFIG: JSON.stringify({
          pools: { backends: [{ url: `https://default:${UPSTASH}@eu1.upstash.io` }], upstash: { rest_token: UPSTASH } },
        }),
      },
    });
    expectSafe(nested, "LB_CONFIG (pools)", [UPSTASH]);
    expect(nested.message).toContain('"rest_token":"<redacted>"');
    expect(nested.problems.find((p) => p.field === "LB_CONFIG (pools)")!.value).toEqual({
      backends: [{ url: "https://<redacted>@eu1.upstash.io" }],
      upstash: { rest_token: "<redacted>" },
    });
  });

  it("a JSON syntax error names the source and the position, never the text", () => {
    const text = `{"admin_token": "${TOKEN}", "backends" oops}`;
    const at = text.indexOf("oops");
    for (const error of [
      refusal({ env: { LB_CONFIG: text } }),
      refusal({ json: { label: "--config lb.json", text } }),
    ]) {
      const field = error.problems[0]!.field;
      expect(["LB_CONFIG", "--config lb.json"]).toContain(field);
      expectSafe(error, field, [TOKEN, "oops", "backends"]);
      expect(error.message).toContain(
        `valid JSON (JSON.parse: Unexpected token at position ${at} (line 1 column ${at + 1}))`,
      );
      expect(error.problems[0]!.value).toBe("<redacted>");
    }
    // V8 quotes a snippet of short input ("[1,]" is not valid JSON): that goes as well.
    const short = refusal({ env: { LB_CONFIG: `["${PASSWORD}",]` } });
    expectSafe(short, "LB_CONFIG", [PASSWORD]);
  });

  it("redacting twice changes nothing (server.ts rewraps problems)", () => {
    const first = refusal({ env: { BACKENDS: `http://u:${PASSWORD}@a.example`, ADMIN_TOKEN: "short" } });
    expect(new ConfigError(first.problems).message).toBe(first.message);
    expect(first.sources).toEqual(["BACKENDS", "ADMIN_TOKEN"]);
  });
});
