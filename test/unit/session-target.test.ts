import { describe, expect, it } from "vitest";
import { outUntilRecovered, sessionTarget } from "../../src/proxy/affinity/session-target.ts";
import type { BackendSnapshot } from "../../src/state/types.ts";
import { backends } from "./fixtures.ts";

const NOW = 1_700_000_000_000;
const POOL = backends("a", "b", "c");
const record = (patch: Omit<BackendSnapshot, "inflight">): BackendSnapshot => ({ inflight: 0, ...patch });
const target = (name: string | undefined, snapshot: BackendSnapshot | undefined) =>
  sessionTarget(POOL, name, snapshot, NOW)?.name;

describe("sessionTarget: whether a session's own backend may still serve it", () => {
  it("serves on a backend with no shared record yet, or a healthy enabled one", () => {
    expect(target("b", undefined)).toBe("b");
    expect(target("b", record({}))).toBe("b");
    expect(target("b", record({ health: "up", admin: "enabled" }))).toBe("b");
    expect(sessionTarget(POOL, "b", undefined, NOW)).toBe(POOL[1]);
  });

  it("does not serve a session with no backend, or one naming a backend the pool no longer has", () => {
    expect(target(undefined, undefined)).toBeUndefined();
    expect(target(undefined, record({}))).toBeUndefined();
    expect(target("gone", undefined)).toBeUndefined();
    expect(target("gone", record({ health: "up" }))).toBeUndefined();
  });

  it("does not serve on a backend health checks took down", () => {
    expect(target("b", record({ health: "down" }))).toBeUndefined();
  });

  it("does not serve on an ejected backend until its ejection ends", () => {
    expect(target("b", record({ ejectedUntil: NOW + 1 }))).toBeUndefined();
    expect(target("b", record({ ejectedUntil: NOW }))).toBe("b");
    expect(target("b", record({ ejectedUntil: NOW - 1 }))).toBe("b");
  });

  it("does not serve on a disabled backend, whatever its drain", () => {
    expect(target("b", record({ admin: "disabled" }))).toBeUndefined();
    expect(target("b", record({ admin: "disabled", drainUntil: NOW + 60_000 }))).toBeUndefined();
  });

  it("serves on a drained backend while its drain runs, and not after", () => {
    expect(target("b", record({ admin: "drained", drainUntil: NOW + 5_000 }))).toBe("b");
    expect(target("b", record({ admin: "drained", drainUntil: NOW + 1 }))).toBe("b");
    expect(target("b", record({ admin: "drained", drainUntil: NOW }))).toBeUndefined();
    expect(target("b", record({ admin: "drained", drainUntil: NOW - 5_000 }))).toBeUndefined();
    expect(target("b", record({ admin: "drained", drainUntil: 0 }))).toBeUndefined();
    expect(target("b", record({ admin: "drained" }))).toBeUndefined();
  });

  it("ignores a drain time left behind once the backend is enabled again", () => {
    expect(target("b", record({ admin: "enabled", drainUntil: NOW - 5_000 }))).toBe("b");
  });

  it("keeps serving existing sessions on a backend at weight 0", () => {
    expect(target("b", record({ weight: 0 }))).toBe("b");
    expect(target("b", record({ weight: 0, admin: "drained", drainUntil: NOW + 5_000 }))).toBe("b");
  });

  it("does not serve on a drained backend that is also down or ejected", () => {
    expect(target("b", record({ admin: "drained", drainUntil: NOW + 5_000, health: "down" }))).toBeUndefined();
    expect(
      target("b", record({ admin: "drained", drainUntil: NOW + 5_000, ejectedUntil: NOW + 5_000 })),
    ).toBeUndefined();
  });
});

describe("outUntilRecovered: out only until health checks or the ejection let it back", () => {
  const out = (name: string | undefined, snapshot: BackendSnapshot | undefined) =>
    outUntilRecovered(POOL, name, snapshot, NOW);

  it("is true for a pool backend health checks took down or that is ejected", () => {
    expect(out("b", record({ health: "down" }))).toBe(true);
    expect(out("b", record({ ejectedUntil: NOW + 1 }))).toBe(true);
    expect(out("b", record({ health: "down", admin: "drained", drainUntil: NOW + 1 }))).toBe(true);
  });

  it("is false for a backend that can serve, is gone, or the admin took out", () => {
    expect(out("b", record({}))).toBe(false);
    expect(out("b", undefined)).toBe(false);
    expect(out(undefined, record({ health: "down" }))).toBe(false);
    expect(out("gone", record({ health: "down" }))).toBe(false);
    expect(out("b", record({ ejectedUntil: NOW }))).toBe(false);
    expect(out("b", record({ health: "down", admin: "disabled" }))).toBe(false);
    expect(out("b", record({ health: "down", admin: "drained" }))).toBe(false);
    expect(out("b", record({ admin: "drained", drainUntil: NOW - 1 }))).toBe(false);
  });
});
