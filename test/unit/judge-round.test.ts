import { describe, expect, it } from "vitest";
import { judgeRound } from "../../src/health/judge-round.ts";
import type { BackendPatch } from "../../src/state/types.ts";
import { backends } from "./fixtures.ts";

const NOW = 1_700_000_000_000;
const T = { rise: 2, fall: 2 };
const pass = { passed: true, reason: "status 200" };
const fail = (reason: string) => ({ passed: false, reason });

describe("judgeRound", () => {
  const [a, b, c] = backends("a", "b", "c");

  it("changes nothing for backends whose record stays as it is", () => {
    const records: Record<string, BackendPatch> = { b: { health: "up", streak: 0 } };
    expect(judgeRound([a!, b!], [pass, pass], (name) => records[name], T, NOW)).toEqual([]);
  });

  it("patches a moved streak without a log line", () => {
    expect(judgeRound([a!], [fail("status 500, expected 2xx")], () => undefined, T, NOW)).toEqual([
      { backend: a, patch: { health: "up", streak: 1 } },
    ]);
  });

  it("takes a backend down with the probe's reason and logs the transition", () => {
    const changes = judgeRound([a!], [fail("ECONNREFUSED")], () => ({ health: "up", streak: 1 }), T, NOW);
    expect(changes).toEqual([
      {
        backend: a,
        patch: { health: "down", streak: 0, reason: "ECONNREFUSED" },
        line: "http://a.test:80 [down] (ECONNREFUSED)",
        event: { event: "down", backend: "a", url: "http://a.test:80", reason: "ECONNREFUSED" },
      },
    ]);
  });

  it("brings a backend up, clears the reason and starts its slow start now", () => {
    const changes = judgeRound([a!], [pass], () => ({ health: "down", streak: 1, reason: "old" }), T, NOW);
    expect(changes).toEqual([
      {
        backend: a,
        patch: { health: "up", streak: 0, since: NOW, reason: "" },
        line: "http://a.test:80 [up]",
        event: { event: "up", backend: "a", url: "http://a.test:80" },
      },
    ]);
  });

  it("pairs each backend with its own result, in order", () => {
    const records: Record<string, BackendPatch> = { a: { health: "down", streak: 1 }, c: { health: "up", streak: 1 } };
    const changes = judgeRound([a!, b!, c!], [pass, pass, fail("timeout")], (name) => records[name], T, NOW);
    expect(changes.map((change) => [change.backend.name, change.patch.health, change.line])).toEqual([
      ["a", "up", "http://a.test:80 [up]"],
      ["c", "down", "http://c.test:80 [down] (timeout)"],
    ]);
  });
});
