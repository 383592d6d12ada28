import { afterEach, describe, expect, it, vi } from "vitest";
import { CookieSigner } from "../../src/proxy/affinity/cookie-signer.ts";
import { Client, NAMES, placements, testLb } from "./affinity-lb.ts";

/** The backend a cookie (name=value) places its session on. */
const placedBy = (cookie: string | undefined) =>
  cookie
    ? new TextDecoder().decode(Uint8Array.from(atob(cookie.split("=")[1]!.split(".")[0]!), (c) => c.charCodeAt(0)))
    : undefined;

afterEach(() => vi.useRealTimers());

describe("choose: a session's backend first, the rotation otherwise", () => {
  it("places a new client by round robin, and keeps it there with no new cookie", async () => {
    const lb = testLb();
    const client = new Client(lb);
    const first = await client.get();
    expect(first.status).toBe(200);
    expect(first.setCookie).toMatch(/^lb_affinity=/);
    expect(placedBy(client.cookie)).toBe(first.upstream);
    for (let i = 0; i < 5; i++) {
      const again = await client.get();
      expect(again).toEqual({ status: 200, upstream: first.upstream, setCookie: null });
    }
  });

  it("takes no round-robin position for a sticky request: cookie-less requests rotate as if it were not there", async () => {
    const plain = testLb();
    const expected = await placements(plain, 7);
    expect(new Set(expected.slice(0, 3))).toEqual(new Set(NAMES));

    const lb = testLb();
    const sticky = new Client(lb);
    const placed: string[] = [(await sticky.get()).upstream!];
    for (let i = 0; i < 6; i++) {
      for (let n = 0; n <= i % 3; n++) expect((await sticky.get()).upstream).toBe(placed[0]);
      placed.push(...(await placements(lb, 1)));
    }
    expect(placed).toEqual(expected);
  });

  it("places afresh, with a new cookie, a client whose valid cookie names a backend the pool does not have", async () => {
    const secret = "a-shared-secret-0123456789";
    const lb = testLb({ AFFINITY_SECRET: secret });
    const client = new Client(lb);
    client.cookie = `lb_affinity=${(await new CookieSigner(secret, 82_800).sign("gone", Date.now() / 1000)).value}`;
    const answer = await client.get();
    expect(answer.status).toBe(200);
    expect(answer.setCookie).not.toBeNull();
    expect(placedBy(client.cookie)).toBe(answer.upstream);
    expect(lb.lines.filter((line) => line.includes("AFFINITY_SECRET"))).toEqual([]);
  });
});

describe("choose: ZERO_DOWNTIME_FAILOVER when the session's backend does not answer", () => {
  const failover = async (policy: string, env: Record<string, string> = {}) => {
    const lb = testLb({ ZERO_DOWNTIME_FAILOVER: policy, EJECT_AFTER: "0", ...env });
    const client = new Client(lb);
    const home = (await client.get()).upstream!;
    const placed = client.cookie;
    lb.hits.length = 0;
    lb.down.add(home);
    return { lb, client, home, placed };
  };

  it("temporary: serves elsewhere, leaves the cookie, and returns once the backend answers again", async () => {
    const { lb, client, home, placed } = await failover("temporary");
    for (let i = 0; i < 4; i++) {
      const answer = await client.get();
      expect(answer.status).toBe(200);
      expect(answer.upstream).not.toBe(home);
      expect(answer.setCookie).toBeNull();
      expect(lb.hits.at(-2)).toBe(home);
    }
    expect(client.cookie).toBe(placed);
    lb.down.delete(home);
    expect(await client.get()).toEqual({ status: 200, upstream: home, setCookie: null });
  });

  it("sticky: serves elsewhere and moves the cookie there, and stays after the backend recovers", async () => {
    const { lb, client, home, placed } = await failover("sticky");
    const moved = await client.get();
    expect(moved.status).toBe(200);
    expect(moved.upstream).not.toBe(home);
    expect(placedBy(client.cookie)).toBe(moved.upstream);
    expect(client.cookie).not.toBe(placed);
    lb.down.delete(home);
    for (let i = 0; i < 3; i++)
      expect(await client.get()).toEqual({ status: 200, upstream: moved.upstream, setCookie: null });
  });

  it("none: the session's backend failing is not retried elsewhere (502), and the cookie stays", async () => {
    const { lb, client, home, placed } = await failover("none");
    for (let i = 0; i < 3; i++) {
      const answer = await client.get();
      expect(answer).toEqual({ status: 502, upstream: undefined, setCookie: null });
    }
    expect(lb.hits).toEqual([home, home, home]);
    expect(client.cookie).toBe(placed);
    // Other sessions are unaffected: new clients still get placed and answered.
    for (const name of await placements(lb, 6)) expect(["a", "b", "c"]).toContain(name);
    lb.down.delete(home);
    expect(await client.get()).toEqual({ status: 200, upstream: home, setCookie: null });
  });

  it("none: once ejection takes the backend out, the session is placed again with a new cookie", async () => {
    const { lb, client, home } = await failover("none", { EJECT_AFTER: "1" });
    expect((await client.get()).status).toBe(502);
    const placedAgain = await client.get();
    expect(placedAgain.status).toBe(200);
    expect(placedAgain.upstream).not.toBe(home);
    expect(placedBy(client.cookie)).toBe(placedAgain.upstream);
    expect(lb.hits).toEqual([home, placedAgain.upstream]);
  });

  it("none: once health checks take the backend out, the session is placed again with a new cookie", async () => {
    const { lb, client, home } = await failover("none");
    await lb.write(home, { health: "down" });
    const placedAgain = await client.get();
    expect(placedAgain.status).toBe(200);
    expect(placedAgain.upstream).not.toBe(home);
    expect(placedBy(client.cookie)).toBe(placedAgain.upstream);
    expect(lb.hits).not.toContain(home);
  });

  it("temporary: a backend health checks or ejection took out keeps its sessions, which return when it is back", async () => {
    for (const out of [{ health: "down" as const }, { ejectedUntil: Date.now() + 60_000 }]) {
      const { lb, client, home, placed } = await failover("temporary");
      lb.down.delete(home);
      await lb.write(home, out);
      for (let i = 0; i < 3; i++) {
        const answer = await client.get();
        expect(answer.status).toBe(200);
        expect(answer.upstream).not.toBe(home);
        expect(answer.setCookie).toBeNull();
      }
      expect(client.cookie).toBe(placed);
      await lb.write(home, { health: "up", ejectedUntil: 0 });
      expect((await client.get()).upstream).toBe(home);
    }
  });

  it("sticky: a backend health checks took out moves its sessions for good", async () => {
    const { lb, client, home } = await failover("sticky");
    lb.down.delete(home);
    await lb.write(home, { health: "down" });
    const moved = await client.get();
    expect(moved.upstream).not.toBe(home);
    expect(placedBy(client.cookie)).toBe(moved.upstream);
    await lb.write(home, { health: "up" });
    expect((await client.get()).upstream).toBe(moved.upstream);
  });
});

describe("choose: weight 0 and drain keep existing sessions", () => {
  it("weight 0: the backend keeps its sessions and takes no new one", async () => {
    const lb = testLb();
    const client = new Client(lb);
    const home = (await client.get()).upstream!;
    expect((await lb.admin(home, "weight", '{"weight": 0}')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect(await client.get()).toEqual({ status: 200, upstream: home, setCookie: null });
    const fresh = await placements(lb, 12);
    expect(fresh).not.toContain(home);
    expect(new Set(fresh).size).toBe(2);
  });

  it("drained for 5 s: its sessions keep reaching it, no new one does; after the time, nothing does", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(1_700_000_040_000);
    const lb = testLb();
    const client = new Client(lb);
    const home = (await client.get()).upstream!;
    expect((await lb.admin(home, "drain", '{"seconds": 5}')).status).toBe(200);
    vi.setSystemTime(Date.now() + 4_900);
    expect(await client.get()).toEqual({ status: 200, upstream: home, setCookie: null });
    expect(await placements(lb, 9)).not.toContain(home);

    vi.setSystemTime(Date.now() + 200);
    lb.hits.length = 0;
    const moved = await client.get();
    expect(moved.status).toBe(200);
    expect(moved.upstream).not.toBe(home);
    // The admin took the backend away: the session is placed again, not left pointing at it.
    expect(placedBy(client.cookie)).toBe(moved.upstream);
    await placements(lb, 9);
    expect(lb.hits).not.toContain(home);
  });

  it("drained without a duration (DRAIN_SECONDS 0): nothing reaches it at once", async () => {
    const lb = testLb();
    const client = new Client(lb);
    const home = (await client.get()).upstream!;
    lb.hits.length = 0;
    expect((await lb.admin(home, "drain")).status).toBe(200);
    expect((await client.get()).upstream).not.toBe(home);
    await placements(lb, 9);
    expect(lb.hits).not.toContain(home);
  });
});

describe("choose: ip_cookie", () => {
  it("places a client's first request by ip-hash of its address, then keeps it by the cookie", async () => {
    const ipHash = testLb({ AFFINITY: "none", ALGORITHM: "ip-hash" });
    const lb = testLb({ AFFINITY: "ip_cookie", ALGORITHM: "round-robin" });
    const seen = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const ip = `203.0.113.${i * 7 + 1}`;
      const expected = (await new Client(ipHash, { "x-test-ip": ip }).get()).upstream!;
      seen.add(expected);
      const client = new Client(lb, { "x-test-ip": ip });
      const first = await client.get();
      expect(first.upstream, ip).toBe(expected);
      expect(placedBy(client.cookie)).toBe(expected);
      // Same address twice without a cookie: the same placement (round robin would move it).
      expect((await new Client(lb, { "x-test-ip": ip }).get()).upstream).toBe(expected);
    }
    expect(seen.size).toBe(3);
  });

  it("follows the cookie, not the address, once placed", async () => {
    const lb = testLb({ AFFINITY: "ip_cookie" });
    const client = new Client(lb, { "x-test-ip": "203.0.113.1" });
    const home = (await client.get()).upstream!;
    const elsewhere = ["203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5", "203.0.113.6"];
    for (const ip of elsewhere) {
      const moved = new Client(lb, { "x-test-ip": ip });
      moved.cookie = client.cookie;
      expect((await moved.get()).upstream).toBe(home);
    }
  });
});
