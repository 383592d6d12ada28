// WebSockets through the balancer on every runtime it ships for (workerd via miniflare, Node,
// Bun, Deno), against real WebSocket upstreams on 127.0.0.1 (scripts/upstream-streams.ts).
// Black-box: only the client's and the upstreams' sides are observed, and /_lb/status.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type Upstream } from "../../scripts/upstream.ts";
import { type LbTarget, RUNTIMES } from "../support/lb-targets.ts";
import { mulberry32 } from "../support/prng.ts";
import { describeWithRedis, startUpstashStack, type UpstashStack } from "../support/redis.ts";
import { backendsOf, startUpstreams } from "../support/upstreams.ts";
import { type Client, closeOpenClients, connect, refused, until } from "../support/websocket-client.ts";
import { ADMIN_TOKEN, backendStatus, type Status } from "../support/worker.ts";

async function statusOf(target: LbTarget): Promise<Status> {
  const response = await target.fetch("/_lb/status", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (response.status !== 200) throw new Error(`/_lb/status answered ${response.status}`);
  return response.json();
}

const opened = (upstreams: readonly Upstream[]) => upstreams.map((u) => u.streams.webSocketsOpened);
const closesSince = (upstreams: readonly Upstream[], before: readonly number[]) =>
  upstreams.flatMap((u, i) => u.streams.closes.slice(before[i]));
const closeCounts = (upstreams: readonly Upstream[]) => upstreams.map((u) => u.streams.closes.length);

/** Random bytes and random printable text to slice messages from (sizes up to 1 MiB). */
const MIB = 1024 * 1024;
const random = mulberry32(20261202);
const BYTES = Buffer.from(Array.from({ length: 2 * MIB }, () => Math.floor(random() * 256)));
const TEXT = Array.from({ length: 2 * MIB }, () => String.fromCharCode(32 + Math.floor(random() * 95))).join("");

/**
 * `count` messages alternating text and binary, from 1 B to 1 MiB: the first two 1 B, the last two
 * 1 MiB, the rest on a log scale skewed to small (2^(20·u³): half under 8 B, one in 13 over
 * 64 KiB, 27 KiB on average), as real traffic is; reproducible from `seed`.
 */
function mixedMessages(count: number, seed: number): (string | Buffer)[] {
  const pick = mulberry32(seed);
  return Array.from({ length: count }, (_, i) => {
    const drawn = Math.max(1, Math.floor(2 ** (20 * pick() ** 3)));
    const size = i < 2 ? 1 : i >= count - 2 ? MIB : drawn;
    const at = Math.floor(pick() * MIB);
    return i % 2 === 0 ? TEXT.slice(at, at + size) : BYTES.subarray(at, at + size);
  });
}

/** Sends every message with at most 8 MiB unanswered, and checks each echo in order. */
async function echoAll(client: Client, messages: readonly (string | Buffer)[]): Promise<void> {
  const sizeOf = (m: string | Buffer) => (typeof m === "string" ? m.length : m.byteLength);
  let sent = 0;
  let outstanding = 0;
  for (let answered = 0; answered < messages.length; answered++) {
    while (sent < messages.length && (outstanding < 8 * MIB || sent === answered)) {
      client.ws.send(messages[sent]!);
      outstanding += sizeOf(messages[sent]!);
      sent++;
    }
    const got = (await client.received(answered + 1, 20_000))[answered]!;
    const expected = messages[answered]!;
    outstanding -= sizeOf(expected);
    if (typeof expected === "string") {
      expect(got.binary, `message ${answered} is text`).toBe(false);
      expect(got.data.toString("utf8") === expected, `message ${answered} (${expected.length} B) intact`).toBe(true);
    } else {
      expect(got.binary, `message ${answered} is binary`).toBe(true);
      expect(got.data.equals(expected), `message ${answered} (${expected.byteLength} B) intact`).toBe(true);
    }
  }
}

afterEach(closeOpenClients);

describe.each(RUNTIMES)("WebSockets on $name", (runtime) => {
  let upstreams: Upstream[];
  let live: Upstream;
  let roundRobin: LbTarget;
  let skipsClosed: LbTarget;
  let idleCapped: LbTarget;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    const closed = await startUpstream({ name: "closed" });
    await closed.close();
    live = await startUpstream({ name: "live" });
    [roundRobin, skipsClosed, idleCapped] = await Promise.all([
      runtime.start({ BACKENDS: backendsOf(upstreams), ALGORITHM: "round-robin", ADMIN_TOKEN }),
      runtime.start({ BACKENDS: `${closed.url},${live.url}`, ALGORITHM: "round-robin" }),
      runtime.start({ BACKENDS: live.url, WEBSOCKET_IDLE_TIMEOUT_MS: "600" }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([roundRobin?.stop(), skipsClosed?.stop(), idleCapped?.stop()]);
    await Promise.all([...(upstreams ?? []), live].map((u) => u?.close()));
  });

  it("1,000 text and 1,000 binary messages of 1 B to 1 MiB echo back intact and in order", async () => {
    const client = await connect(roundRobin.url, "/ws/echo");
    await echoAll(client, mixedMessages(2_000, 11));
  }, 120_000);

  it("three WebSockets under round robin land on three different backends", async () => {
    const before = opened(upstreams);
    for (let i = 0; i < 3; i++) await connect(roundRobin.url, `/ws/rr/${i}`);
    expect(opened(upstreams).map((n, i) => n - before[i]!)).toEqual([1, 1, 1]);
  });

  it("the subprotocol the backend picked is the one the client sees", async () => {
    // The upstream picks the last one offered: a hop that picked for itself would say "a".
    const client = await connect(roundRobin.url, "/ws/protocols", ["a", "b"]);
    expect(client.ws.protocol).toBe("b");
  });

  it("a close with code 4001 and a reason reaches the backend with the same code and reason", async () => {
    const client = await connect(roundRobin.url, "/ws/client-closes");
    const before = closeCounts(upstreams);
    client.ws.close(4001, "client says bye");
    expect(await client.closed).toEqual({ code: 4001, reason: "client says bye" });
    // Clients terminated after earlier tests may still be closing at the upstreams (1001): look
    // for this client's close among whatever arrives.
    const ours = () => closesSince(upstreams, before).filter((c) => c.code !== 1001);
    await until(() => ours().length > 0, 5_000, "the backend sees the close");
    expect(ours().map(({ code, reason }) => ({ code, reason }))).toEqual([{ code: 4001, reason: "client says bye" }]);
  });

  it("a close with code 4001 and a reason from the backend reaches the client the same", async () => {
    const client = await connect(roundRobin.url, "/ws/backend-closes");
    client.ws.send("close:4001:backend says bye");
    expect(await client.closed).toEqual({ code: 4001, reason: "backend says bye" });
  });

  it("a backend that answers the handshake with 403 has its 403 passed to the client", async () => {
    const answer = await refused(roundRobin.url, "/ws/deny");
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body)).toEqual({ denied: "nope!" });
  });

  it("a closed backend port is skipped and the upgrade succeeds on the next backend", async () => {
    // Two in a row under round robin: one of them has the closed port as its first choice.
    const clients = [await connect(skipsClosed.url, "/ws/one"), await connect(skipsClosed.url, "/ws/two")];
    expect(live.streams.webSocketsOpened).toBe(2);
    for (const [i, client] of clients.entries()) {
      client.ws.send(`still here ${i}`);
      expect((await client.received(1))[0]!.data.toString()).toBe(`still here ${i}`);
    }
  });

  it("the client going away closes the upstream WebSocket within 1 s, and in flight returns to 0", async () => {
    const client = await connect(roundRobin.url, "/ws/vanishing");
    const s = await statusOf(roundRobin);
    expect(upstreams.reduce((sum, u) => sum + backendStatus(s, u.url).inflight, 0)).toBeGreaterThanOrEqual(1);
    const before = closeCounts(upstreams);
    const gone = Date.now();
    client.ws.terminate();
    await until(() => closesSince(upstreams, before).length > 0, 1_000, "the backend sees the client leave");
    expect(closesSince(upstreams, before)[0]!.at - gone).toBeLessThan(1_000);
    await until(
      async () => {
        const now = await statusOf(roundRobin);
        return upstreams.every((u) => backendStatus(now, u.url).inflight === 0);
      },
      5_000,
      "every in-flight count back to 0",
    );
  });

  it("draining a backend stops new WebSockets on it and leaves its open ones working", async () => {
    const admin = (u: Upstream, action: string) =>
      roundRobin.fetch(`/_lb/backends/${encodeURIComponent(new URL(u.url).host)}/${action}`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
    const a = upstreams[0]!;
    const before = opened(upstreams);
    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await connect(roundRobin.url, `/ws/before-drain/${i}`));
    expect(opened(upstreams)[0]! - before[0]!).toBe(1);
    const openOnA = a.streams.webSockets;
    expect((await admin(a, "drain")).status).toBe(200);
    try {
      const during = opened(upstreams);
      for (let i = 0; i < 4; i++) await connect(roundRobin.url, `/ws/during-drain/${i}`);
      expect(opened(upstreams)[0]).toBe(during[0]);
      // Every WebSocket opened before the drain still echoes, the one on a included.
      for (const [i, client] of clients.entries()) {
        client.ws.send(`after drain ${i}`);
        expect((await client.received(1))[0]!.data.toString()).toBe(`after drain ${i}`);
      }
      expect(a.streams.webSockets).toBe(openOnA);
    } finally {
      expect((await admin(a, "enable")).status).toBe(200);
    }
  });

  it("WEBSOCKET_IDLE_TIMEOUT_MS closes a quiet WebSocket with 1001 on both sides, not a busy one", async () => {
    const quiet = await connect(idleCapped.url, "/ws/quiet");
    const busy = await connect(idleCapped.url, "/ws/busy");
    const before = live.streams.closes.length;
    const started = Date.now();
    // The busy one sends every 150 ms, a quarter of the cap, until the quiet one is closed.
    let ticks = 0;
    const ticker = setInterval(() => busy.ws.send(`tick ${++ticks}`), 150);
    try {
      expect((await quiet.closed).code).toBe(1001);
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
      await until(() => live.streams.closes.length > before, 5_000, "the backend sees the idle close");
      expect(live.streams.closes.at(-1)!.code).toBe(1001);
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(busy.ws.readyState).toBe(busy.ws.OPEN);
    } finally {
      clearInterval(ticker);
    }
  });

  if (runtime.name !== "workerd") {
    it("SIGTERM with WebSockets open: they receive close 1001 and the process exits 0", async () => {
      const solo = await startUpstream({ name: "solo" });
      const target = await runtime.start({ BACKENDS: solo.url, SHUTDOWN_TIMEOUT_MS: "500" });
      try {
        const clients = [await connect(target.url, "/ws/1"), await connect(target.url, "/ws/2")];
        const { code, output } = await target.terminate!();
        expect(code, output.join("\n")).toBe(0);
        for (const client of clients) expect((await client.closed).code).toBe(1001);
      } finally {
        await target.stop();
        await solo.close();
      }
    });
  }
});

describeWithRedis("WebSockets and least connections across instances sharing one store", () => {
  let stack: UpstashStack;
  beforeAll(async () => {
    stack = await startUpstashStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  describe.each(RUNTIMES)("on $name", (runtime) => {
    let upstreams: Upstream[];
    let holder: LbTarget;
    let chooser: LbTarget;

    beforeAll(async () => {
      upstreams = await startUpstreams(["a", "b", "c"]);
      const shared = {
        ALGORITHM: "least-connections",
        STATE: "upstash",
        STATE_PREFIX: `ws-lc-${runtime.name}`,
        UPSTASH_REDIS_REST_URL: stack.upstash.url,
        UPSTASH_REDIS_REST_TOKEN: stack.upstash.token,
        STORE_TIMEOUT_MS: "2000",
        ADMIN_TOKEN,
      };
      // The holder knows only backend a, so its 20 WebSockets all open there; the chooser, one
      // pool with a, b and c in the same store, sees them through the shared in-flight counts.
      [holder, chooser] = await Promise.all([
        runtime.start({ ...shared, BACKENDS: upstreams[0]!.url }),
        runtime.start({ ...shared, BACKENDS: backendsOf(upstreams) }),
      ]);
    });
    afterAll(async () => {
      await Promise.all([holder?.stop(), chooser?.stop()]);
      await Promise.all((upstreams ?? []).map((u) => u.close()));
    });

    it("with 20 WebSockets open on one backend through one instance, the other sends new ones elsewhere", async () => {
      const [a, b, c] = upstreams as [Upstream, Upstream, Upstream];
      const held = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(holder.url, `/ws/held/${i}`)));
      expect(a.streams.webSockets).toBe(20);
      await until(
        async () => backendStatus(await statusOf(chooser), a.url).inflight === 20,
        10_000,
        "the other instance sees 20 in flight on a",
      );
      for (let i = 0; i < 6; i++) await connect(chooser.url, `/ws/new/${i}`);
      expect(a.streams.webSocketsOpened).toBe(20);
      expect(b.streams.webSocketsOpened + c.streams.webSocketsOpened).toBe(6);
      for (const client of held) client.ws.close(1000, "done");
      await until(
        async () => backendStatus(await statusOf(chooser), a.url).inflight === 0,
        10_000,
        "the closed WebSockets are released in the shared store",
      );
    }, 60_000);
  });
});
