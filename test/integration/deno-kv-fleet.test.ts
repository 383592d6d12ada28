// Three `npm run lb:deno -- --state=deno-kv` processes sharing one Deno KV file: the shared
// rotation (exact with SEQUENCE_BATCH=1, within 1% batched) and a disable through one instance
// followed by the others within one sync interval. The store's own semantics are in
// store-contract.test.ts; this is the Deno runtime wiring end to end.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { type LbTarget, RUNTIMES } from "../support/lb-targets.ts";
import { sendMany } from "../support/load.ts";
import { backendsOf, startUpstreams, tally } from "../support/upstreams.ts";
import { ADMIN_TOKEN } from "../support/worker.ts";

const deno = RUNTIMES.find((runtime) => runtime.name === "deno")!;

describe("three Deno processes on one Deno KV file (STATE=deno-kv)", () => {
  let upstreams: Upstream[];
  let dir: string;
  const running: LbTarget[] = [];

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    dir = mkdtempSync(join(tmpdir(), "edge-lb-denokv-fleet-"));
  });
  afterAll(async () => {
    await Promise.all(running.map((target) => target.stop().catch(() => undefined)));
    await Promise.all((upstreams ?? []).map((u) => u.close()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const fleet = async (prefix: string, settings: Record<string, string> = {}): Promise<LbTarget[]> => {
    const targets = await Promise.all(
      [0, 1, 2].map(() =>
        deno.start({
          BACKENDS: backendsOf(upstreams),
          STATE: "deno-kv",
          // A file per fleet: two fleets on one file would contend for its write lock.
          DENO_KV_PATH: join(dir, `${prefix}.sqlite`),
          STATE_PREFIX: prefix,
          ADMIN_TOKEN,
          // A reservation slower than the 200 ms default (a busy test machine) would fall back
          // to a local position, which is right in production and not what is measured here.
          STORE_TIMEOUT_MS: "5000",
          ...settings,
        }),
      ),
    );
    running.push(...targets);
    return targets;
  };

  it.concurrent("SEQUENCE_BATCH=1: 3,000 requests at random across the three land exactly 1000/1000/1000", async ({
    expect,
  }) => {
    const targets = await fleet("exact", { SEQUENCE_BATCH: "1" });
    expect(tally(await sendMany(targets, 3_000, { concurrency: 12, seed: 21 }))).toEqual({
      a: 1_000,
      b: 1_000,
      c: 1_000,
    });
  });

  it.concurrent("default batching: within ±1%; a backend disabled through one is avoided by the others within one sync interval", async ({
    expect,
  }) => {
    const targets = await fleet("batched");
    const counts = tally(await sendMany(targets, 3_000, { concurrency: 12, seed: 22 }));
    for (const name of ["a", "b", "c"]) {
      expect(counts[name]).toBeGreaterThanOrEqual(990);
      expect(counts[name]).toBeLessThanOrEqual(1_010);
    }

    const b = upstreams[1]!;
    const name = new URL(b.url).host;
    const others = targets.slice(1);
    // Traffic on the others all along, one request at a time, so their views refresh as they would
    // in service; noted: when the last request that b answered was sent.
    let lastOnB = 0;
    let sending = true;
    const traffic = (async () => {
      for (let i = 0; sending && i < 5_000; i++) {
        const sentAt = Date.now();
        const response = await others[i % 2]!.fetch(`/follow/${i}`);
        await response.arrayBuffer();
        if (response.headers.get("x-upstream") === "b") lastOnB = sentAt;
      }
    })();
    const disable = await targets[0]!.fetch(`/_lb/backends/${encodeURIComponent(name)}/disable`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, origin: targets[0]!.url },
    });
    expect(disable.status).toBe(200);
    // The change is in the store once the admin route has answered.
    const disabledAt = Date.now();
    // Two intervals of traffic after the last request b got; bounded by the loop above.
    await expect
      .poll(() => Date.now() - Math.max(lastOnB, disabledAt), { timeout: 10_000, interval: 50 })
      .toBeGreaterThan(2_000);
    sending = false;
    await traffic;
    const followedAfter = Math.max(0, lastOnB - disabledAt);
    console.log(`deno-kv: the other instances stopped using b ${followedAfter} ms after it was disabled`);
    // One sync interval (1 s), plus the sync's round trip on a busy machine.
    expect(followedAfter).toBeLessThanOrEqual(1_500);
    expect(tally(await sendMany(targets, 60, { concurrency: 3, seed: 23 }))["b"]).toBeUndefined();
  });
});
