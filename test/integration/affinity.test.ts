// Session affinity through instances sharing one real store (redis-server behind the Upstash
// REST server): cookie, ip_cookie and header modes, drain with a duration, zero-downtime
// failover. Two Workers (miniflare) and one Node process where the issue names both.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type Upstream } from "../../scripts/upstream.ts";
import { CookieClient, setCookieValue } from "../support/cookie-client.ts";
import { type LbTarget, RUNTIMES } from "../support/lb-targets.ts";
import { mulberry32 } from "../support/prng.ts";
import { describeWithRedis, startUpstashStack, type UpstashStack } from "../support/redis.ts";
import { backendsOf, startUpstreams } from "../support/upstreams.ts";
import { ADMIN_TOKEN, type Status } from "../support/worker.ts";

const SECRET = "affinity-secret-for-tests-0123456789";
const workerd = RUNTIMES.find((r) => r.name === "workerd")!;
const node = RUNTIMES.find((r) => r.name === "node")!;

async function statusOf(target: LbTarget): Promise<Status> {
  const response = await target.fetch("/_lb/status", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(response.status).toBe(200);
  return response.json();
}

const admin = (target: LbTarget, upstream: Upstream, action: string, body?: unknown) =>
  target.fetch(`/_lb/backends/${encodeURIComponent(new URL(upstream.url).host)}/${action}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** Polls `check` every 20 ms until it holds, for at most `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describeWithRedis("session affinity across instances sharing one store", () => {
  let stack: UpstashStack;
  let upstreams: Upstream[];
  const running: LbTarget[] = [];
  let prefixes = 0;

  /** Two Workers and one Node process on one store prefix, with `settings`. */
  const trio = async (settings: Record<string, string>) => {
    const shared = {
      BACKENDS: backendsOf(upstreams),
      STATE: "upstash",
      STATE_PREFIX: `aff${++prefixes}`,
      UPSTASH_REDIS_REST_URL: stack.upstash.url,
      UPSTASH_REDIS_REST_TOKEN: stack.upstash.token,
      STORE_TIMEOUT_MS: "2000",
      AFFINITY_SECRET: SECRET,
      ADMIN_TOKEN,
      ...settings,
    };
    const started = await Promise.all([workerd.start(shared), workerd.start(shared), node.start(shared)]);
    running.push(...started);
    return started;
  };

  beforeAll(async () => {
    stack = await startUpstashStack();
    upstreams = await startUpstreams(["a", "b", "c"]);
  });
  afterAll(async () => {
    await Promise.all(running.map((t) => t.stop().catch(() => undefined)));
    await Promise.all((upstreams ?? []).map((u) => u.close()));
    await stack?.stop();
  });

  it("cookie: 90 clients x 20 requests through random instances each stay on one backend; round robin splits them 30/30/30", async () => {
    const instances = await trio({ AFFINITY: "cookie", ALGORITHM: "round-robin", SEQUENCE_BATCH: "1" });
    const random = mulberry32(90);
    const clients = Array.from({ length: 90 }, () => new CookieClient());
    for (let round = 0; round < 20; round++) {
      await Promise.all(
        clients.map((client, i) => client.get(instances[Math.floor(random() * 3)]!, `/c/${i}/${round}`)),
      );
    }
    for (const client of clients) expect(new Set(client.upstreams)).toHaveProperty("size", 1);
    const split: Record<string, number> = {};
    for (const client of clients) split[client.upstreams[0]!] = (split[client.upstreams[0]!] ?? 0) + 1;
    expect(split).toEqual({ a: 30, b: 30, c: 30 });
  }, 120_000);

  it("an altered, expired, foreign-signed or removed-backend cookie is placed afresh with a new cookie, status 200", async () => {
    const [worker] = await trio({ AFFINITY: "cookie" });
    const first = new CookieClient();
    await first.get(worker!, "/first");
    const good = first.cookie!;
    const [name, expiry, mac] = good.split(".") as [string, string, string];
    const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === "A" ? "B" : "A") + text.slice(at + 1);
    // Signed by the same code with another secret, or naming a backend this pool does not have.
    const other = await workerd.start({
      BACKENDS: backendsOf(upstreams),
      AFFINITY: "cookie",
      AFFINITY_SECRET: `x${SECRET}`,
    });
    running.push(other);
    const foreign = new CookieClient();
    await foreign.get(other, "/foreign");
    // A cookie for backend d, signed with the shared secret by a pool that still has d.
    const d = await startUpstream({ name: "d" });
    const withD = await workerd.start({
      BACKENDS: `${backendsOf(upstreams)},${d.url}`,
      AFFINITY: "cookie",
      AFFINITY_SECRET: SECRET,
      ALGORITHM: "round-robin",
    });
    running.push(withD);
    let onD: string | undefined;
    for (let i = 0; i < 8 && !onD; i++) {
      const client = new CookieClient();
      await client.get(withD, `/to-d/${i}`);
      if (client.upstreams[0] === "d") onD = client.cookie;
    }
    await d.close();
    expect(onD, "a client placed on d").toBeDefined();
    const cases: Record<string, string> = {
      altered: flip(good, good.length - 3),
      expired: `${name}.${Number(expiry) - 2 * 86_400}.${mac}`,
      "foreign secret": foreign.cookie!,
      "removed backend": onD!,
    };
    for (const [what, cookie] of Object.entries(cases)) {
      const response = await worker!.fetch("/again", { headers: { cookie: `lb_affinity=${cookie}` } });
      await response.arrayBuffer();
      expect(response.status, what).toBe(200);
      const fresh = setCookieValue(response, "lb_affinity");
      expect(fresh, `${what}: a new cookie`).toBeDefined();
      expect(fresh, what).not.toBe(cookie);
    }
  }, 60_000);
});
