import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/state/memory.ts";
import { Client, placements, type TestLb, testLb } from "./affinity-lb.ts";

const HEADER = { AFFINITY: "header", AFFINITY_HEADERS: "x-session", EJECT_AFTER: "0" };
const claims = (lb: TestLb) => lb.balancer.pools[0]!.state.stats.sessionClaims;
const refresh = (...lbs: TestLb[]) => Promise.all(lbs.map((lb) => lb.balancer.pools[0]!.state.refresh()));

describe("choose, header affinity", () => {
  it("keeps each key on one backend at one store claim per key, and sets no cookie", async () => {
    const lb = testLb(HEADER);
    const homes = new Map<string, string>();
    for (let round = 0; round < 5; round++) {
      for (let key = 0; key < 9; key++) {
        const answer = await new Client(lb, { "x-session": `key-${key}` }).get();
        expect(answer.status).toBe(200);
        expect(answer.setCookie).toBeNull();
        if (round === 0) homes.set(`key-${key}`, answer.upstream!);
        else expect(answer.upstream).toBe(homes.get(`key-${key}`));
      }
    }
    expect(new Set(homes.values()).size).toBe(3);
    expect(claims(lb)).toBe(9);
  });

  it("leaves requests without the header to the rotation, untouched by sessions and without claims", async () => {
    const expected = await placements(testLb(HEADER), 6);
    const lb = testLb(HEADER);
    const sessions = [new Client(lb, { "x-session": "s1" }), new Client(lb, { "x-session": "s2" })];
    const placed: string[] = [];
    for (const session of sessions) placed.push((await session.get()).upstream!);
    const plain: string[] = [];
    for (let i = 0; i < 4; i++) {
      for (const session of sessions) await session.get();
      plain.push(...(await placements(lb, 1)));
    }
    // The two sessions took the first two positions once, when they were placed; never again.
    expect([...placed, ...plain]).toEqual(expected);
    expect(claims(lb)).toBe(2);
  });

  it("temporary: a session whose backend is down is served elsewhere on every instance and stays placed", async () => {
    const store = new MemoryStore();
    const one = testLb({ ...HEADER, ZERO_DOWNTIME_FAILOVER: "temporary" }, store);
    const two = testLb({ ...HEADER, ZERO_DOWNTIME_FAILOVER: "temporary" }, store);
    const home = (await new Client(one, { "x-session": "s1" }).get()).upstream!;
    await one.write(home, { health: "down" });
    await refresh(one, two);
    for (const lb of [one, two, one, two]) {
      const answer = await new Client(lb, { "x-session": "s1" }).get();
      expect(answer.status).toBe(200);
      expect(answer.upstream).not.toBe(home);
    }
    // Still placed on its backend in the store: a claim for another backend gets the old one.
    await one.write(home, { health: "up" });
    await refresh(one, two);
    for (const lb of [one, two]) expect((await new Client(lb, { "x-session": "s1" }).get()).upstream).toBe(home);
    expect(one.hits.filter((name) => name === home)).toHaveLength(2);
    expect(two.hits.filter((name) => name === home)).toHaveLength(1);
  });

  it("temporary: an unreachable backend's session is served elsewhere and returns when it answers", async () => {
    const lb = testLb({ ...HEADER, ZERO_DOWNTIME_FAILOVER: "temporary" });
    const client = new Client(lb, { "x-session": "s1" });
    const home = (await client.get()).upstream!;
    lb.down.add(home);
    for (let i = 0; i < 3; i++) expect((await client.get()).upstream).not.toBe(home);
    lb.down.delete(home);
    expect((await client.get()).upstream).toBe(home);
    expect(claims(lb)).toBe(1);
  });

  it("sticky: a session whose backend is down moves, on every instance, and stays moved", async () => {
    const store = new MemoryStore();
    const one = testLb({ ...HEADER, ZERO_DOWNTIME_FAILOVER: "sticky" }, store);
    const two = testLb({ ...HEADER, ZERO_DOWNTIME_FAILOVER: "sticky" }, store);
    const home = (await new Client(one, { "x-session": "s1" }).get()).upstream!;
    await one.write(home, { health: "down" });
    await refresh(one, two);
    const moved = (await new Client(one, { "x-session": "s1" }).get()).upstream!;
    expect(moved).not.toBe(home);
    await one.write(home, { health: "up" });
    await refresh(one, two);
    for (const lb of [one, two, one, two])
      expect((await new Client(lb, { "x-session": "s1" }).get()).upstream).toBe(moved);
  });

  it("none: an unreachable session backend is not retried elsewhere", async () => {
    const lb = testLb({ ...HEADER, ZERO_DOWNTIME_FAILOVER: "none" });
    const client = new Client(lb, { "x-session": "s1" });
    const home = (await client.get()).upstream!;
    lb.down.add(home);
    lb.hits.length = 0;
    expect((await client.get()).status).toBe(502);
    expect(lb.hits).toEqual([home]);
  });
});
