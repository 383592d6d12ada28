// The shared rotation across instances (round robin, batching, weighted round robin and its
// store cost), through one real redis-server behind the Upstash REST server. The resilience side
// of the same setup (least connections, outages, health) is in shared-state.test.ts.
import { expect, it } from "vitest";
import { describeWithRedis } from "../support/redis.ts";
import { spread, useRedisFleet } from "../support/redis-fleet.ts";
import { tally } from "../support/upstreams.ts";
import { status, type WorkerInstance } from "../support/worker.ts";

describeWithRedis("the rotation of instances sharing one Redis through the Upstash REST protocol", () => {
  const fleet = useRedisFleet();
  const { startInstances } = fleet;

  // A store call slower than STORE_TIMEOUT_MS falls back to a local position, which is right in
  // production; these runs measure the shared sequence itself, so a loaded test machine gets 5 s.
  const patient = { STORE_TIMEOUT_MS: "5000" };
  const noDegradation = (workers: readonly WorkerInstance[]) =>
    expect(workers.flatMap((w) => w.logs.filter((l) => l.includes("unreachable")))).toEqual([]);

  it("three instances, round robin, SEQUENCE_BATCH=1: exactly 1,000 per upstream over 3,000 requests", async () => {
    const workers = await startInstances(3, { SEQUENCE_BATCH: "1", ...patient });
    expect(tally(await spread(workers, 3000))).toEqual({ a: 1000, b: 1000, c: 1000 });
    noDegradation(workers);
  });

  it("three instances, round robin, default batching: each within ±1% of 1,000", async () => {
    const workers = await startInstances(3, patient);
    const counts = tally(await spread(workers, 3000, 12, 2));
    noDegradation(workers);
    for (const name of ["a", "b", "c"]) {
      expect(counts[name]).toBeGreaterThanOrEqual(990);
      expect(counts[name]).toBeLessThanOrEqual(1010);
    }
  });

  it("steady-state round robin costs at most 0.05 store round trips per request", async () => {
    const workers = await startInstances(3, {});
    await spread(workers, 600, 12, 3); // warm up: blocks grow to their full size
    const before = await Promise.all(workers.map(status));
    await spread(workers, 1500, 12, 4);
    const after = await Promise.all(workers.map(status));
    // Each status call itself costs one round trip (a fresh view): subtract it.
    const trips = after.reduce(
      (sum, s, i) => sum + s.pools[0]!.store.roundTrips - before[i]!.pools[0]!.store.roundTrips - 1,
      0,
    );
    console.log(`store round trips per request: ${(trips / 1500).toFixed(4)} (${trips} over 1500)`);
    expect(trips / 1500).toBeLessThanOrEqual(0.05);
  });

  it("weighted round robin 5:1:1 across three instances: each share within ±2% over 7,000", async () => {
    const backends = fleet
      .upstreams()
      .map((u, i) => `${u.url}|weight=${i === 0 ? 5 : 1}`)
      .join(",");
    const workers = await startInstances(3, { BACKENDS: backends, ALGORITHM: "weighted-round-robin", ...patient });
    const counts = tally(await spread(workers, 7000, 16, 5));
    expect(Math.abs(counts["a"]! / 7000 - 5 / 7)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(counts["b"]! / 7000 - 1 / 7)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(counts["c"]! / 7000 - 1 / 7)).toBeLessThanOrEqual(0.02);
  });
});
