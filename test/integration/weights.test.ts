import { afterAll, beforeAll, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { type LbTarget, RUNTIMES, type RuntimeName } from "../support/lb-targets.ts";
import { sendMany } from "../support/load.ts";
import { describeWithRedis, startUpstashStack, type UpstashStack } from "../support/redis.ts";
import { startUpstreams, tally } from "../support/upstreams.ts";
import { ADMIN_TOKEN } from "../support/worker.ts";

const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };
const NAMES = ["a", "b", "c"] as const;

interface WeightStatus {
  pools: Array<{ backends: Array<{ name: string; weight: number; configured_weight: number }> }>;
}

/** name -> [current, configured] weight, as one instance's /_lb/status says. */
async function weightsOf(target: LbTarget): Promise<Record<string, [number, number]>> {
  const response = await target.fetch("/_lb/status", { headers: AUTH });
  if (response.status !== 200) throw new Error(`/_lb/status answered ${response.status}: ${await response.text()}`);
  const status = (await response.json()) as WeightStatus;
  return Object.fromEntries(status.pools[0]!.backends.map((b) => [b.name, [b.weight, b.configured_weight]]));
}

const SET: Record<string, [number, number]> = { a: [3, 1], b: [1, 1], c: [0, 1] };

describeWithRedis("weights changed at run time, shared by Workers and a Node process through Upstash", () => {
  let stack: UpstashStack;
  let upstreams: Upstream[];
  let settings: Record<string, string>;
  const instances: LbTarget[] = [];
  const start = (runtime: RuntimeName) => RUNTIMES.find((r) => r.name === runtime)!.start(settings);

  beforeAll(async () => {
    stack = await startUpstashStack();
    upstreams = await startUpstreams(NAMES);
    settings = {
      BACKENDS: upstreams.map((u, i) => `${u.url}|name=${NAMES[i]}`).join(","),
      ALGORITHM: "weighted-round-robin",
      STATE: "upstash",
      STATE_PREFIX: "weights",
      UPSTASH_REDIS_REST_URL: stack.upstash.url,
      UPSTASH_REDIS_REST_TOKEN: stack.upstash.token,
      ADMIN_TOKEN,
      // A store call slower than this falls back to a local position (right in production); a
      // loaded test machine must not turn a shared-sequence measurement into a local one.
      STORE_TIMEOUT_MS: "5000",
    };
    instances.push(...(await Promise.all([start("workerd"), start("workerd"), start("node")])));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(instances.map((i) => i.stop().catch(() => undefined)));
    await Promise.all((upstreams ?? []).map((u) => u.close()));
    await stack?.stop();
  });

  it("3,1,0 set through one instance: within 2 s every instance sends new traffic 3:1:0", async () => {
    for (const instance of instances) expect(await weightsOf(instance)).toEqual({ a: [1, 1], b: [1, 1], c: [1, 1] });
    const before = tally(await sendMany(instances, 300, { concurrency: 12, seed: 11 }));
    for (const name of NAMES) expect(Math.abs(before[name]! - 100)).toBeLessThanOrEqual(10);

    const [first] = instances;
    const post = (name: string, weight: number) =>
      first!.fetch(`/_lb/backends/${name}/weight`, {
        method: "POST",
        headers: { ...AUTH, "content-type": "application/json" },
        body: JSON.stringify({ weight }),
      });
    const a = await post("a", 3);
    expect(a.status).toBe(200);
    expect(await a.json()).toEqual({ pool: "default", backend: "a", weight: 3, configured_weight: 1 });
    expect((await post("c", 0)).status).toBe(200);
    const setAt = Date.now();

    // Told by traffic alone (a status read would force a sync): under 1,1,1 any six consecutive
    // positions of one instance's rotation include c twice, so six in a row without c mean the
    // instance rotates by the new weights. Bounded by the deadline.
    const switchedAfter: (number | undefined)[] = instances.map(() => undefined);
    while (switchedAfter.includes(undefined) && Date.now() - setAt < 5_000) {
      await Promise.all(
        instances.map(async (instance, i) => {
          if (switchedAfter[i] !== undefined) return;
          const probe = tally(await sendMany([instance], 6, { concurrency: 1, seed: 100 + i }));
          if (probe["c"] === undefined) switchedAfter[i] = Date.now() - setAt;
        }),
      );
    }
    console.log(`new traffic without c on each instance after (ms): ${JSON.stringify(switchedAfter)}`);
    for (const after of switchedAfter) expect(after).toBeLessThanOrEqual(2_000);
    for (const instance of instances) expect(await weightsOf(instance)).toEqual(SET);

    const counts = tally(await sendMany(instances, 2_000, { concurrency: 12, seed: 12 }));
    console.log(`2,000 requests over 3 instances: ${JSON.stringify(counts)}`);
    expect(Object.keys(counts).sort()).toEqual(["a", "b"]);
    expect(Math.abs(counts["a"]! - 1_500)).toBeLessThanOrEqual(60);
    expect(Math.abs(counts["b"]! - 500)).toBeLessThanOrEqual(60);
  });

  it("the change survives an instance restart: the new process starts with 3,1,0 and sends nothing to c", async () => {
    // Depends on the weights set above (one store, one prefix).
    const node = instances.pop()!;
    await node.stop();
    const restarted = await start("node");
    instances.push(restarted);
    expect(await weightsOf(restarted)).toEqual(SET);
    const counts = tally(await sendMany([restarted], 400, { concurrency: 8, seed: 13 }));
    expect(counts["c"]).toBeUndefined();
    expect(counts["a"]! + counts["b"]!).toBe(400);
    expect(Math.abs(counts["a"]! - 300)).toBeLessThanOrEqual(12);
  });
});
