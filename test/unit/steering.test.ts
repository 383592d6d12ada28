import { describe, expect, it } from "vitest";
import { greatCircleKm, locationFromHeaders, locationOf } from "../../src/routing/geo.ts";
import { type PoolStanding, type SteeringPlan, type SteeringPolicy, steer } from "../../src/routing/steering.ts";
import { SteeringLog } from "../../src/routing/steering-log.ts";
import { mulberry32 } from "../support/prng.ts";

type Standings = Record<string, Partial<PoolStanding>>;

const planOf = (policy: SteeringPolicy, pools: string[], extra: Partial<SteeringPlan> = {}): SteeringPlan => ({
  policy,
  pools,
  fallback: undefined,
  countryPools: new Map(),
  continentPools: new Map(),
  ...extra,
});

const lookup =
  (standings: Standings) =>
  (name: string): PoolStanding => ({
    name,
    usable: 3,
    total: 3,
    minimum: 1,
    weight: 1,
    outstanding: 0,
    latitude: undefined,
    longitude: undefined,
    ...standings[name],
  });

const never = () => {
  throw new Error("no random draw expected");
};

describe("failover", () => {
  const plan = planOf("failover", ["eu", "us"], { fallback: "static" });

  it("takes the first pool at or above its minimum", () => {
    expect(steer(plan, lookup({}), {}, never)).toMatchObject({ pool: "eu", by: "preferred" });
    const below = lookup({ eu: { usable: 1, minimum: 2 } });
    expect(steer(plan, below, {}, never)).toMatchObject({ pool: "us", by: "failover" });
    expect(steer(plan, lookup({ eu: { usable: 2, minimum: 2 } }), {}, never).pool).toBe("eu");
  });

  it("uses the fallback pool when none is healthy enough, else the pool with most usable backends", () => {
    const down = lookup({ eu: { usable: 0 }, us: { usable: 1, minimum: 2 } });
    expect(steer(plan, down, {}, never)).toMatchObject({ pool: "static", by: "fallback" });
    const noFallback = planOf("failover", ["eu", "us"]);
    expect(steer(noFallback, down, {}, never)).toMatchObject({ pool: "us", by: "last-resort" });
  });

  it("reads pools only up to the one it chooses", () => {
    const decision = steer(planOf("failover", ["eu", "us", "ap"]), lookup({ eu: { usable: 0 } }), {}, never);
    expect(decision.seen.map((s) => s.name)).toEqual(["eu", "us"]);
  });
});

describe("geo", () => {
  const plan = planOf("geo", ["us", "eu"], {
    countryPools: new Map([["DE", ["eu", "us"]]]),
    continentPools: new Map([["AS", ["ap", "us"]]]),
  });

  it("picks the country's list, then the continent's, then the default list", () => {
    expect(steer(plan, lookup({}), { country: "DE", continent: "EU" }, never).pool).toBe("eu");
    expect(steer(plan, lookup({}), { country: "JP", continent: "AS" }, never).pool).toBe("ap");
    expect(steer(plan, lookup({}), { country: "BR", continent: "SA" }, never).pool).toBe("us");
    expect(steer(plan, lookup({}), {}, never).pool).toBe("us");
  });

  it("fails over within the region's list, then to the route's other pools", () => {
    const euDown = lookup({ eu: { usable: 0 } });
    expect(steer(plan, euDown, { country: "DE" }, never)).toMatchObject({ pool: "us", by: "failover" });
    const bothDown = lookup({ eu: { usable: 0 }, us: { usable: 0 } });
    expect(steer({ ...plan, pools: ["us", "eu", "ap"] }, bothDown, { country: "DE" }, never).pool).toBe("ap");
  });
});

describe("proximity", () => {
  const places: Standings = {
    frankfurt: { latitude: 50.11, longitude: 8.68 },
    virginia: { latitude: 38.95, longitude: -77.45 },
    singapore: { latitude: 1.35, longitude: 103.82 },
  };
  const plan = planOf("proximity", ["virginia", "frankfurt", "singapore"]);

  it("sends each client to the nearest pool, the next nearest when it is down", () => {
    expect(steer(plan, lookup(places), { latitude: 48.85, longitude: 2.35 }, never).pool).toBe("frankfurt");
    expect(steer(plan, lookup(places), { latitude: 35.68, longitude: 139.69 }, never).pool).toBe("singapore");
    expect(steer(plan, lookup(places), { latitude: 40.71, longitude: -74.0 }, never).pool).toBe("virginia");
    const down = lookup({ ...places, frankfurt: { ...places.frankfurt, usable: 0 } });
    expect(steer(plan, down, { latitude: 48.85, longitude: 2.35 }, never).pool).toBe("virginia");
  });

  it("keeps the route's order for a client without coordinates", () => {
    expect(steer(plan, lookup(places), { country: "FR" }, never).pool).toBe("virginia");
  });

  it("measures distance on the sphere", () => {
    // Paris to New York is about 5,837 km.
    expect(greatCircleKm(48.8566, 2.3522, 40.7128, -74.006)).toBeCloseTo(5837, -1);
  });
});

describe("random and least-outstanding", () => {
  it("random draws healthy pools by weight", () => {
    const random = mulberry32(7);
    const plan = planOf("random", ["a", "b", "c"]);
    const standings = lookup({ a: { weight: 3 }, b: { weight: 1 }, c: { usable: 0, weight: 5 } });
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 4000; i++) counts[steer(plan, standings, {}, random).pool]!++;
    expect(counts.c).toBe(0);
    expect(counts.a! / 4000).toBeGreaterThan(0.72);
    expect(counts.a! / 4000).toBeLessThan(0.78);
  });

  it("least-outstanding scales each weight by 1 / (outstanding + 1)", () => {
    const plan = planOf("least-outstanding", ["busy", "idle"]);
    const standings = lookup({ busy: { outstanding: 20 }, idle: { outstanding: 0 } });
    // busy's share is (1/21) / (1/21 + 1) = 1/22 of the draws.
    expect(steer(plan, standings, {}, () => 0.04).pool).toBe("busy");
    expect(steer(plan, standings, {}, () => 0.05).pool).toBe("idle");
  });

  it("falls back when every pool is below its minimum", () => {
    const plan = planOf("random", ["a", "b"], { fallback: "z" });
    expect(steer(plan, lookup({ a: { usable: 0 }, b: { usable: 0 } }), {}, never)).toMatchObject({
      pool: "z",
      by: "fallback",
    });
  });
});

describe("client location", () => {
  it("accepts only known codes and coordinates in range", () => {
    expect(locationOf("de", "eu", "50.1", "8.6")).toEqual({
      country: "DE",
      continent: "EU",
      latitude: 50.1,
      longitude: 8.6,
    });
    expect(locationOf("XX", "ZZ", "91", "8")).toEqual({});
    expect(locationOf(undefined, undefined, "", "")).toEqual({});
  });

  it("reads the configured headers", () => {
    const headers = new Headers({ "cf-ipcountry": "US", "x-lat": "40", "x-lon": "-74" });
    const names = { country: "cf-ipcountry", continent: "cf-ipcontinent", latitude: "x-lat", longitude: "x-lon" };
    expect(locationFromHeaders(headers, names)).toEqual({ country: "US", latitude: 40, longitude: -74 });
  });
});

describe("SteeringLog", () => {
  it("logs each crossing of the minimum once, with where traffic went", () => {
    const lines: string[] = [];
    const log = new SteeringLog((line) => lines.push(line), false);
    const plan = planOf("failover", ["eu", "us"], { fallback: "static" });
    const observe = (standings: Standings) => log.observe("api", steer(plan, lookup(standings), {}, never));
    observe({});
    observe({});
    expect(lines).toEqual([]);
    observe({ eu: { usable: 1, minimum: 2 } });
    observe({ eu: { usable: 1, minimum: 2 } });
    observe({ eu: { usable: 0, minimum: 2 }, us: { usable: 0 } });
    observe({ eu: { usable: 3, minimum: 2 } });
    expect(lines).toEqual([
      "pool eu [down] (1 of 3 healthy, minimum 2) -> failover to us",
      "pool us [down] (0 of 3 healthy, minimum 1) -> fallback pool static",
      "pool eu [up] (3 of 3 healthy, minimum 2) -> traffic returns to eu",
    ]);
  });
});
