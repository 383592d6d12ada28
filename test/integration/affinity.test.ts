// Session affinity through instances sharing one real store (redis-server behind the Upstash
// REST server): cookie, ip_cookie and header modes, drain with a duration, zero-downtime
// failover. Two Workers (miniflare) and one Node process where the issue names both.
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
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

  it("ip_cookie: a client's first placement is the ip-hash choice for its address", async () => {
    const settings = { BACKENDS: backendsOf(upstreams), AFFINITY_SECRET: SECRET };
    const [placing, hashing] = await Promise.all([
      workerd.start({ ...settings, AFFINITY: "ip_cookie", ALGORITHM: "round-robin" }),
      workerd.start({ ...settings, ALGORITHM: "ip-hash" }),
    ]);
    running.push(placing, hashing);
    const seen = new Set<string>();
    for (let i = 1; i <= 40; i++) {
      const ip = `198.51.100.${i}`;
      const first = new CookieClient();
      await first.get(placing, "/ip", { "cf-connecting-ip": ip });
      const hashed = await hashing.fetch("/ip", { headers: { "cf-connecting-ip": ip } });
      await hashed.arrayBuffer();
      expect(first.upstreams[0], ip).toBe(hashed.headers.get("x-upstream"));
      expect(first.cookie, ip).toBeDefined();
      // Then the cookie rules, whatever address the client comes from next.
      await first.get(placing, "/ip", { "cf-connecting-ip": "203.0.113.250" });
      expect(first.upstreams[1], ip).toBe(first.upstreams[0]);
      seen.add(first.upstreams[0]!);
    }
    expect(seen.size).toBe(3);
  }, 60_000);

  it("header: 100 X-Session keys x 10 requests through three instances each stay on one backend", async () => {
    const instances = await trio({ AFFINITY: "header", AFFINITY_HEADERS: "X-Session", ALGORITHM: "round-robin" });
    const before = await Promise.all(instances.map(statusOf));
    const random = mulberry32(100);
    const landed = new Map<string, Set<string>>();
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 100 }, async (_, key) => {
          const target = instances[Math.floor(random() * 3)]!;
          const response = await target.fetch(`/h/${key}/${round}`, { headers: { "x-session": `session-${key}` } });
          await response.arrayBuffer();
          const set = landed.get(`${key}`) ?? new Set<string>();
          set.add(response.headers.get("x-upstream") ?? `status ${response.status}`);
          landed.set(`${key}`, set);
        }),
      );
    }
    for (const [key, backends] of landed) expect([...backends], `key ${key}`).toHaveLength(1);
    const after = await Promise.all(instances.map(statusOf));
    // Each status read is one round trip of its own (a fresh view): not the sessions' cost.
    const trips = after.reduce(
      (sum, s, i) => sum + s.pools[0]!.store.roundTrips - before[i]!.pools[0]!.store.roundTrips - 1,
      0,
    );
    const perRequest = trips / 1_000;
    console.log(
      `header affinity: ${trips} store round trips for 1,000 requests (${perRequest.toFixed(3)} per request)`,
    );
    // A session costs at most one store round trip per instance per TTL: 100 keys on 3 instances.
    const claims = after.reduce(
      (sum, s, i) => sum + s.pools[0]!.store.sessionClaims - before[i]!.pools[0]!.store.sessionClaims,
      0,
    );
    console.log(`header affinity: of those, ${claims} session claims`);
    expect(claims).toBeLessThanOrEqual(300);
    expect(claims).toBeGreaterThanOrEqual(100);
  }, 60_000);

  it("drain for 5 s: the drained backend's sessions keep reaching it, no new session does, then none at all", async () => {
    const instances = await trio({ AFFINITY: "cookie", ALGORITHM: "round-robin", SEQUENCE_BATCH: "1" });
    const clients = Array.from({ length: 12 }, () => new CookieClient());
    for (const [i, client] of clients.entries()) await client.get(instances[i % 3]!, "/place");
    const a = upstreams[0]!;
    const onA = clients.filter((c) => c.upstreams[0] === "a");
    expect(onA.length).toBe(4);
    const drained = await admin(instances[0]!, a, "drain", { seconds: 5 });
    expect(drained.status).toBe(200);
    const until = Date.now() + 5_000;
    await Promise.all(
      instances.map((t) => until_(async () => (await statusOf(t)).pools[0]!.backends[0]!.admin === "drained")),
    );
    // During the drain: a's sessions stay on a; new clients never land there.
    let newOnA = 0;
    let rounds = 0;
    while (Date.now() < until - 1_000) {
      for (const [i, client] of onA.entries()) {
        await client.get(instances[(i + rounds) % 3]!, "/during");
        expect(client.upstreams.at(-1)).toBe("a");
      }
      const fresh = new CookieClient();
      await fresh.get(instances[rounds % 3]!, "/new");
      if (fresh.upstreams[0] === "a") newOnA++;
      rounds++;
    }
    expect(rounds).toBeGreaterThan(2);
    expect(newOnA).toBe(0);
    // After the drain: nothing reaches a, its sessions are placed elsewhere.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, until - Date.now() + 300)));
    for (const [i, client] of onA.entries()) {
      for (let n = 0; n < 3; n++) await client.get(instances[(i + n) % 3]!, "/after");
      expect(client.upstreams.slice(-3)).not.toContain("a");
      expect(new Set(client.upstreams.slice(-3)).size).toBe(1);
    }
    expect((await admin(instances[0]!, a, "enable")).status).toBe(200);
  }, 60_000);

  it.each(["temporary", "sticky"])(
    "zero-downtime failover %s: with the session's backend port closed, every request is served elsewhere",
    async (policy) => {
      const instances = await trio({
        AFFINITY: "cookie",
        ALGORITHM: "round-robin",
        ZERO_DOWNTIME_FAILOVER: policy,
        // Keep the closed port in the pool: this is about the failover, not passive ejection.
        EJECT_AFTER: "0",
      });
      const client = new CookieClient();
      await client.get(instances[0]!, "/place");
      const home = upstreams.find((u) => u.name === client.upstreams[0])!;
      const placed = client.cookie;
      await home.close();
      try {
        for (let i = 0; i < 6; i++) {
          const response = await client.get(instances[i % 3]!, "/away");
          expect(response.status).toBe(200);
          expect(client.upstreams.at(-1)).not.toBe(home.name);
        }
        if (policy === "temporary") expect(client.cookie).toBe(placed);
        else expect(client.cookie).not.toBe(placed);
      } finally {
        await home.reopen();
      }
      await client.get(instances[0]!, "/back");
      // temporary: the session returns to its backend; sticky: it stays where it moved.
      if (policy === "temporary") expect(client.upstreams.at(-1)).toBe(home.name);
      else expect(client.upstreams.at(-1)).toBe(client.upstreams.at(-2));
    },
    60_000,
  );

  it("a WebSocket upgrade with the cookie lands on the cookie's backend, and one without gets the cookie on its 101", async () => {
    const instances = await trio({ AFFINITY: "cookie", ALGORITHM: "round-robin" });
    const client = new CookieClient();
    await client.get(instances[0]!, "/before-ws");
    const home = upstreams.find((u) => u.name === client.upstreams[0])!;
    for (const target of instances) {
      const opened = home.streams.webSocketsOpened;
      const ws = new WebSocket(`${target.url.replace(/^http/, "ws")}/ws/sticky`, {
        headers: { cookie: `lb_affinity=${client.cookie}` },
      });
      await new Promise((resolve, reject) => {
        ws.once("open", resolve);
        ws.once("error", reject);
      });
      expect(home.streams.webSocketsOpened).toBe(opened + 1);
      ws.terminate();
    }
    for (const target of instances) {
      const ws = new WebSocket(`${target.url.replace(/^http/, "ws")}/ws/fresh`);
      const headers = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
        ws.once("upgrade", (response) => resolve(response.headers));
        ws.once("error", reject);
      });
      const cookies = ([] as string[]).concat(headers["set-cookie"] ?? []);
      expect(
        cookies.some((line) => line.startsWith("lb_affinity=")),
        target.url,
      ).toBe(true);
      ws.terminate();
    }
  }, 60_000);
});

const until_ = (check: () => Promise<boolean>) => until(check, 5_000, "every instance sees the drain");
