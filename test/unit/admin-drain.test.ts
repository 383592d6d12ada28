import { describe, expect, it } from "vitest";
import { AUTH, testLb } from "./affinity-lb.ts";

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** The shared record of backend `name` as the balancer sees it, and as /_lb/status reports it. */
async function drainOf(lb: ReturnType<typeof testLb>, name: string) {
  const record = lb.balancer.pools[0]!.state.snapshot.backends[name];
  const status = (await (
    await lb.balancer.fetch(new Request("http://lb.test/_lb/status", { headers: AUTH }))
  ).json()) as {
    pools: { backends: { name: string; admin: string; drain_until: string | null }[] }[];
  };
  const shown = status.pools[0]!.backends.find((b) => b.name === name)!;
  return {
    admin: record?.admin,
    drainUntil: record?.drainUntil,
    shown: { admin: shown.admin, drain_until: shown.drain_until },
  };
}

/** Runs `action` and checks it stored a drain ending `seconds` after it, whenever it ran. */
async function expectDrainOf(lb: ReturnType<typeof testLb>, seconds: number, action: () => Promise<Response>) {
  const before = Date.now();
  const response = await action();
  const after = Date.now();
  expect(response.status).toBe(200);
  const body = (await response.json()) as { backend: string; admin: string; drain_until: string };
  expect(body).toEqual({ pool: "default", backend: "b", admin: "drained", drain_until: expect.stringMatching(ISO) });
  const { drainUntil, admin } = await drainOf(lb, "b");
  expect(admin).toBe("drained");
  expect(drainUntil).toBeGreaterThanOrEqual(before + seconds * 1000);
  expect(drainUntil).toBeLessThanOrEqual(after + seconds * 1000);
  expect(new Date(body.drain_until).getTime()).toBe(drainUntil);
  return drainUntil!;
}

describe("POST /_lb/backends/:name/drain with a duration", () => {
  it('{"seconds": 5} drains until five seconds from now, as status shows', async () => {
    const lb = testLb();
    const until = await expectDrainOf(lb, 5, () => lb.admin("b", "drain", '{"seconds": 5}'));
    expect((await drainOf(lb, "b")).shown).toEqual({ admin: "drained", drain_until: new Date(until).toISOString() });
  });

  it("no body, an empty one or an empty object uses DRAIN_SECONDS", async () => {
    const lb = testLb({ DRAIN_SECONDS: "30" });
    await expectDrainOf(lb, 30, () => lb.admin("b", "drain"));
    await expectDrainOf(lb, 30, () => lb.admin("b", "drain", ""));
    await expectDrainOf(lb, 30, () => lb.admin("b", "drain", " \n"));
    await expectDrainOf(lb, 30, () => lb.admin("b", "drain", "{}"));
    await expectDrainOf(lb, 0, () => lb.admin("b", "drain", '{"seconds": 0}'));
  });

  it("without DRAIN_SECONDS, a drain without a duration takes effect at once; status shows no time left", async () => {
    const lb = testLb();
    await expectDrainOf(lb, 0, () => lb.admin("b", "drain"));
    expect((await drainOf(lb, "b")).shown).toEqual({ admin: "drained", drain_until: null });
  });

  it("the longest drain is a week", async () => {
    const lb = testLb();
    await expectDrainOf(lb, 604_800, () => lb.admin("b", "drain", '{"seconds": 604800}'));
  });

  it.each([
    ['{"seconds": -1}', "seconds", -1],
    ['{"seconds": 604801}', "seconds", 604_801],
    ['{"seconds": 1.5}', "seconds", 1.5],
    ['{"seconds": "5"}', "seconds", "5"],
    ['{"seconds": null}', "seconds", null],
    ['{"seconds": true}', "seconds", true],
    ['{"seconds": [5]}', "seconds", [5]],
    ['{"secs": 5}', "secs", 5],
    ['{"seconds": 5, "weight": 3}', "weight", 3],
    ["5", "body", 5],
    ["[5]", "body", [5]],
    ["null", "body", null],
    ["seconds=5", "body", undefined],
    ['{"seconds": 5', "body", undefined],
  ])(
    "refuses %s with 400 naming the field, the value and what was expected, and stores nothing",
    async (body, field, value) => {
      const lb = testLb({ DRAIN_SECONDS: "30" });
      const response = await lb.admin("b", "drain", body);
      expect(response.status).toBe(400);
      const answer = (await response.json()) as {
        error: string;
        reason: string;
        field: string;
        value?: unknown;
        expected: string;
      };
      expect(answer.error).toBe("bad_request");
      expect(answer.field).toBe(field);
      expect(answer.value).toEqual(value);
      // Whatever was wrong, the answer says what a drain body looks like.
      expect(answer.expected).toMatch(/seconds|an integer from 0 to 604800/);
      expect(answer.reason).toContain(`${field}: got `);
      expect(await drainOf(lb, "b")).toEqual({
        admin: undefined,
        drainUntil: undefined,
        shown: { admin: "enabled", drain_until: null },
      });
    },
  );

  it("refuses a body over 1 KiB with 413", async () => {
    const lb = testLb();
    const response = await lb.admin("b", "drain", `{"seconds": 5${" ".repeat(1024)}}`);
    expect(response.status).toBe(413);
    expect((await drainOf(lb, "b")).admin).toBeUndefined();
  });

  it("enable ends the drain; disable keeps nothing going", async () => {
    const lb = testLb();
    await expectDrainOf(lb, 60, () => lb.admin("b", "drain", '{"seconds": 60}'));
    const enabled = await lb.admin("b", "enable");
    expect(await enabled.json()).toEqual({ pool: "default", backend: "b", admin: "enabled" });
    expect(await drainOf(lb, "b")).toEqual({
      admin: "enabled",
      drainUntil: 0,
      shown: { admin: "enabled", drain_until: null },
    });

    await expectDrainOf(lb, 60, () => lb.admin("b", "drain", '{"seconds": 60}'));
    expect(await (await lb.admin("b", "disable")).json()).toEqual({ pool: "default", backend: "b", admin: "disabled" });
    expect((await drainOf(lb, "b")).shown).toEqual({ admin: "disabled", drain_until: null });
  });

  it("answers 404 for an unknown backend or action without reading the body", async () => {
    const lb = testLb();
    expect((await lb.admin("nobody", "drain", '{"seconds": 5}')).status).toBe(404);
    expect((await lb.admin("b", "drian", '{"seconds": 5}')).status).toBe(404);
  });
});
