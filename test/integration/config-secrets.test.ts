// A refused configuration is explained without its secrets: on Node to stderr, on Workers to the
// log, and a Worker's 503 to any client names only where the bad settings came from.
import { describe, expect, it } from "vitest";
import { runServer } from "../support/runtimes.ts";
import { startWorker } from "../support/worker.ts";

const ADMIN_SECRET = "adm1n-S3CRET-token-never-printed-42";
const URL_PASSWORD = "s3cretpass";

/** An admin token beside an invalid algorithm, in LB_CONFIG. */
const BAD_LB_CONFIG = JSON.stringify({
  admin_token: ADMIN_SECRET,
  pools: [{ backends: [{ url: "http://127.0.0.1:1" }], algorithm: "fastest-first" }],
});
const CREDENTIALED_BACKEND = `http://user:${URL_PASSWORD}@127.0.0.1:1`;

describe("a real Node process refusing a bad config", () => {
  it("LB_CONFIG with an admin_token and an invalid field: exits non-zero, names the field, not the token", async () => {
    const result = await runServer("node", ["--port=0", "--host=127.0.0.1"], { LB_CONFIG: BAD_LB_CONFIG });
    expect(result.code).not.toBe(0);
    expect(result.stdout).not.toContain("Load Balancer started");
    expect(result.stderr).toContain("LB_CONFIG (pools[0].algorithm)");
    expect(result.stderr).toContain("fastest-first");
    expect(result.stderr + result.stdout).not.toContain(ADMIN_SECRET);
  });

  it("BACKENDS with user:pass@: exits non-zero, names BACKENDS, not the password", async () => {
    const result = await runServer("node", ["--port=0", "--host=127.0.0.1"], { BACKENDS: CREDENTIALED_BACKEND });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("BACKENDS (pools[0].backends[0].url)");
    expect(result.stderr).toContain("http://<redacted>@127.0.0.1:1");
    expect(result.stderr + result.stdout).not.toContain(URL_PASSWORD);
  });
});

describe("a Worker (workerd) with a bad config", () => {
  it.each<{ name: string; bindings: Record<string, string>; source: string; secret: string }>([
    {
      name: "LB_CONFIG with an admin_token",
      bindings: { LB_CONFIG: BAD_LB_CONFIG },
      source: "LB_CONFIG",
      secret: ADMIN_SECRET,
    },
    {
      name: "a credentialed backend",
      bindings: { BACKENDS: CREDENTIALED_BACKEND, ALGORITHM: "fastest-first" },
      source: "ALGORITHM, BACKENDS",
      secret: URL_PASSWORD,
    },
  ])(
    "$name: 503 bad_config naming the source only; the log has the redacted details",
    async ({ bindings, source, secret }) => {
      const worker = await startWorker(bindings);
      try {
        for (const path of ["/", "/_lb/status"]) {
          const response = await worker.fetch(path);
          expect(response.status).toBe(503);
          const text = await response.text();
          expect(JSON.parse(text)).toEqual({
            error: "bad_config",
            reason: `invalid configuration in ${source}; the Worker's log has the details`,
          });
          for (const value of [secret, "fastest-first", "127.0.0.1", "<redacted>", "user"])
            expect(text).not.toContain(value);
        }
        await expect.poll(() => worker.logs.join("\n"), { timeout: 5_000 }).toContain("invalid configuration:");
        const log = worker.logs.join("\n");
        expect(log).toContain("fastest-first");
        expect(log).not.toContain(secret);
        // Logged once per isolate, not once per request.
        expect(worker.logs.filter((line) => line.includes("invalid configuration:"))).toHaveLength(1);
      } finally {
        await worker.dispose();
      }
    },
  );
});
