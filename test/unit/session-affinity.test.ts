import { describe, expect, it } from "vitest";
import type { AffinitySpec } from "../../src/pool/pool-runtime.ts";
import { SessionAffinity } from "../../src/proxy/affinity/session-affinity.ts";
import { MemoryStore } from "../../src/state/memory.ts";
import { PoolState } from "../../src/state/pool-state.ts";
import type { StateStore } from "../../src/state/types.ts";
import { type ManualTime, manualTime } from "../support/manual-time.ts";

const SECRET = "unit-affinity-secret-0123456789";
/** A whole minute, in epoch ms. */
const START = 1_700_000_040_000;

const COOKIE: AffinitySpec = {
  mode: "cookie",
  cookieName: "lb_affinity",
  ttlS: 600,
  headers: [],
  requireAllHeaders: false,
  failover: "temporary",
  cookieSecure: true,
};
const HEADER: AffinitySpec = { ...COOKIE, mode: "header", ttlS: 1_800, headers: ["x-session", "x-tenant"] };

/** A SessionAffinity over a MemoryStore-backed PoolState, on a clock the test moves, counting claims. */
function setup(spec: AffinitySpec, secret = SECRET) {
  const time: ManualTime = manualTime({ start: START });
  const memory = new MemoryStore(time.now);
  const claims: { key: string; backend: string; ttlMs: number; replacing: string | undefined }[] = [];
  const store: StateStore = {
    kind: "memory",
    reserve: (pool, count) => memory.reserve(pool, count),
    sync: (pool, report) => memory.sync(pool, report),
    setBackend: (pool, backend, patch) => memory.setBackend(pool, backend, patch),
    tryLock: (pool, name, ttlMs) => memory.tryLock(pool, name, ttlMs),
    claimSession: (pool, key, backend, ttlMs, replacing) => {
      claims.push({ key, backend, ttlMs, replacing });
      return memory.claimSession(pool, key, backend, ttlMs, replacing);
    },
  };
  const state = new PoolState(store, {
    pool: "p",
    instance: "me",
    maxBatch: 64,
    syncIntervalMs: 1_000,
    reportGapMs: 50,
    loadAware: false,
    inflightTtlMs: 3_000,
    storeTimeoutMs: 200,
    clock: time.now,
    log: () => undefined,
    timers: time.timers,
  });
  return { time, claims, affinity: new SessionAffinity(spec, secret, state, time.now) };
}

const request = (headers: Record<string, string> = {}) => new Request("http://lb.test/", { headers });
/** The name=value part of a Set-Cookie. */
const pair = (setCookie: string) => setCookie.split(";")[0]!;

describe("SessionAffinity, cookie modes", () => {
  it("has no backend for a request without the cookie, and never asks to renew one", async () => {
    const { affinity } = setup(COOKIE);
    expect(await affinity.read(request())).toEqual({ backend: undefined, renew: false });
    expect(await affinity.read(request({ cookie: "other=1; lb_affinity_x=2" }))).toEqual({
      backend: undefined,
      renew: false,
    });
  });

  it("finds its cookie among several, wherever it is in the header", async () => {
    const { affinity } = setup(COOKIE);
    const cookie = pair(await affinity.cookieFor("b"));
    for (const header of [
      cookie,
      `a=1; ${cookie}`,
      `${cookie}; z=2`,
      `a=1;${cookie} ;z=2`,
      `x_lb_affinity=no; ${cookie}`,
    ]) {
      expect(await affinity.read(request({ cookie: header })), header).toEqual({ backend: "b", renew: false });
    }
  });

  it("reads an altered, foreign or garbage cookie as no session at all", async () => {
    const { affinity } = setup(COOKIE);
    const good = pair(await affinity.cookieFor("b"));
    const altered = `${good.slice(0, -2)}${good.at(-2) === "A" ? "B" : "A"}${good.at(-1)}`;
    const foreign = pair(await setup(COOKIE, "another-secret-0123456789").affinity.cookieFor("b"));
    for (const cookie of [altered, foreign, "lb_affinity=garbage", "lb_affinity="]) {
      expect(await affinity.read(request({ cookie })), cookie).toEqual({ backend: undefined, renew: false });
    }
  });

  it("asks for a renewal once less than half the TTL is left, and reads nothing once it expired", async () => {
    const { affinity, time } = setup(COOKIE);
    const setCookie = await affinity.cookieFor("b");
    const cookie = pair(setCookie);
    const maxAge = Number(/Max-Age=(\d+)/.exec(setCookie)![1]);
    expect(maxAge).toBe(600);
    time.advance((maxAge - 300) * 1000);
    expect(await affinity.read(request({ cookie }))).toEqual({ backend: "b", renew: false });
    time.advance(1);
    expect(await affinity.read(request({ cookie }))).toEqual({ backend: "b", renew: true });
    time.advance(300 * 1000 - 2);
    expect(await affinity.read(request({ cookie }))).toEqual({ backend: "b", renew: true });
    time.advance(1);
    expect(await affinity.read(request({ cookie }))).toEqual({ backend: undefined, renew: false });
  });

  it("sets HttpOnly, SameSite=Lax, Path=/, Max-Age and Secure", async () => {
    const { affinity, time } = setup(COOKIE);
    const setCookie = await affinity.cookieFor("b");
    expect(setCookie).toMatch(
      /^lb_affinity=Yg\.\d+\.[A-Za-z0-9_-]{22}; Max-Age=600; Path=\/; HttpOnly; SameSite=Lax; Secure$/,
    );
    // Placed mid-minute, the expiry is rounded up and Max-Age says how long is really left.
    time.advance(20_000);
    expect(await affinity.cookieFor("b")).toMatch(/; Max-Age=640; /);
  });

  it("leaves Secure off when cookie_secure is false, and uses the configured name", async () => {
    const { affinity } = setup({ ...COOKIE, cookieSecure: false, cookieName: "sticky" });
    const setCookie = await affinity.cookieFor("b");
    expect(setCookie).toMatch(/^sticky=[^;]+; Max-Age=600; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(await affinity.read(request({ cookie: pair(setCookie) }))).toEqual({ backend: "b", renew: false });
  });
});

describe("SessionAffinity, header mode", () => {
  it("has no session without any of the headers, or without all of them when all are required", async () => {
    const any = setup(HEADER).affinity;
    const all = setup({ ...HEADER, requireAllHeaders: true }).affinity;
    expect(await any.read(request())).toBeUndefined();
    expect(await any.read(request({ "x-session": "", "x-tenant": "" }))).toBeUndefined();
    expect(await any.read(request({ "x-other": "s1" }))).toBeUndefined();
    expect(await any.read(request({ "x-tenant": "t1" }))).toMatchObject({ backend: undefined, renew: false });
    expect(await any.read(request({ "x-session": "s1" }))).toMatchObject({ backend: undefined, renew: false });

    expect(await all.read(request({ "x-session": "s1" }))).toBeUndefined();
    expect(await all.read(request({ "x-tenant": "t1" }))).toBeUndefined();
    expect(await all.read(request({ "x-session": "s1", "x-tenant": "t1" }))).toMatchObject({ backend: undefined });
  });

  it("keys a session by a digest of the values: never the value itself, distinct per header", async () => {
    const { affinity } = setup(HEADER);
    const keyOf = async (headers: Record<string, string>) => (await affinity.read(request(headers)))!.key!;
    const token = "secret-session-token-value";
    const key = await keyOf({ "x-session": token });
    expect(key).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(key).not.toContain(token.slice(0, 8));
    expect(await keyOf({ "x-session": token })).toBe(key);
    expect(await keyOf({ "X-Session": token, "x-unrelated": "1" })).toBe(key);
    // The same value under the other header, another value, and both headers: other sessions.
    const others = [
      await keyOf({ "x-tenant": token }),
      await keyOf({ "x-session": `${token}2` }),
      await keyOf({ "x-session": token, "x-tenant": "t" }),
      await keyOf({ "x-session": "a", "x-tenant": "b" }),
      await keyOf({ "x-session": "ab" }),
    ];
    expect(new Set([key, ...others]).size).toBe(others.length + 1);
  });

  it("claims at the store, then answers from its cache until near the TTL", async () => {
    const { affinity, claims, time } = setup(HEADER);
    const headers = { "x-session": "s1" };
    const session = (await affinity.read(request(headers)))!;
    expect(session.backend).toBeUndefined();
    expect(await affinity.claim(session, "b")).toBe("b");
    expect(claims).toEqual([{ key: session.key, backend: "b", ttlMs: 1_800_000, replacing: undefined }]);

    // Cached for 95% of the TTL: 1_710 s.
    time.advance(1_710_000 - 1);
    expect(await affinity.read(request(headers))).toEqual({ backend: "b", renew: false, key: session.key });
    time.advance(1);
    expect(await affinity.read(request(headers))).toEqual({ backend: undefined, renew: false, key: session.key });
    expect(claims).toHaveLength(1);

    // The store still holds the session (its idle TTL has not run out): its placement wins, renewed.
    expect(await affinity.claim(session, "c")).toBe("b");
    expect(await affinity.read(request(headers))).toMatchObject({ backend: "b" });
    time.advance(1_800_000 - 1);
    expect(await affinity.claim(session, "c")).toBe("b");
    expect(claims).toHaveLength(3);
  });

  it("places a session afresh once it has been idle for the whole TTL", async () => {
    const { affinity, time } = setup(HEADER);
    const session = (await affinity.read(request({ "x-session": "s1" })))!;
    expect(await affinity.claim(session, "b")).toBe("b");
    time.advance(1_800_000);
    expect(await affinity.claim(session, "c")).toBe("c");
  });

  it("moves a session off the backend it replaces, and passes the replaced backend to the store", async () => {
    const { affinity, claims } = setup(HEADER);
    const session = (await affinity.read(request({ "x-session": "s1" })))!;
    expect(await affinity.claim(session, "b")).toBe("b");
    // Another backend replacing one the session is not on: the store's placement is kept.
    expect(await affinity.claim(session, "c", "a")).toBe("b");
    expect(await affinity.claim(session, "c", "b")).toBe("c");
    expect(claims.at(-1)).toMatchObject({ backend: "c", replacing: "b" });
    expect(await affinity.read(request({ "x-session": "s1" }))).toMatchObject({ backend: "c" });
  });

  it("keeps different sessions apart", async () => {
    const { affinity } = setup(HEADER);
    const one = (await affinity.read(request({ "x-session": "s1" })))!;
    const two = (await affinity.read(request({ "x-session": "s2" })))!;
    expect(await affinity.claim(one, "a")).toBe("a");
    expect(await affinity.claim(two, "b")).toBe("b");
    expect(await affinity.read(request({ "x-session": "s1" }))).toMatchObject({ backend: "a" });
    expect(await affinity.read(request({ "x-session": "s2" }))).toMatchObject({ backend: "b" });
  });
});
