import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { backendsOf, startUpstreams, tally } from "../support/upstreams.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

describe("STATE=kv: shared flags from Workers KV, per-instance counters", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    worker = await startWorker({ BACKENDS: backendsOf(upstreams), STATE: "kv" }, { kvNamespaces: ["LB_KV"] });
  });
  afterAll(async () => {
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("says at start-up that counters are per instance", async () => {
    await (await worker.fetch("/")).arrayBuffer();
    await expect.poll(() => worker.logs.some((l) => l.includes("STATE=kv") && l.includes("per instance"))).toBe(true);
  });

  it("takes a backend's disabled flag from KV", async () => {
    const kv = await worker.mf.getKVNamespace("LB_KV");
    const b = upstreams[1]!;
    const name = new URL(b.url).host;
    await kv.put("edge-lb:default:flags", JSON.stringify({ [name]: { admin: "disabled" } }));
    // The view refreshes about once a second while requests flow; wait for b to drop out.
    await expect
      .poll(
        async () => {
          const responses = [];
          for (let i = 0; i < 6; i++) responses.push(await worker.fetch("/"));
          return tally(responses)["b"] ?? 0;
        },
        { timeout: 10_000, interval: 200 },
      )
      .toBe(0);
    const responses = [];
    for (let i = 0; i < 60; i++) {
      const response = await worker.fetch("/");
      await response.arrayBuffer();
      responses.push(response);
    }
    expect(tally(responses)).toEqual({ a: 30, c: 30 });
  });
});
