import { describe, expect, it } from "vitest";
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, SignInBackoff } from "../../src/admin/sign-in-backoff.ts";

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("sign-in backoff", () => {
  it("lets a fresh address try, and blocks it for 1 s after one failure", () => {
    const time = clock();
    const backoff = new SignInBackoff({ now: time.now });
    expect(backoff.check("198.51.100.1")).toEqual({ allowed: true });
    backoff.failure("198.51.100.1");
    expect(backoff.check("198.51.100.1")).toEqual({ allowed: false, retryAfterS: 1 });
    expect(backoff.check("198.51.100.2")).toEqual({ allowed: true });
    time.advance(BACKOFF_BASE_MS - 1);
    expect(backoff.check("198.51.100.1").allowed).toBe(false);
    time.advance(1);
    expect(backoff.check("198.51.100.1")).toEqual({ allowed: true });
  });

  it("doubles the window per consecutive failure up to 5 minutes, with Retry-After in whole seconds", () => {
    const time = clock();
    const backoff = new SignInBackoff({ now: time.now });
    const windows: number[] = [];
    for (let i = 0; i < 12; i++) {
      backoff.failure("a");
      const verdict = backoff.check("a");
      if (verdict.allowed) throw new Error("a failure must block");
      windows.push(verdict.retryAfterS);
      time.advance(verdict.retryAfterS * 1000);
      expect(backoff.check("a").allowed).toBe(true);
    }
    expect(windows).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    expect(BACKOFF_MAX_MS).toBe(300_000);
    // Half a second left rounds up: Retry-After is never 0 while the address is blocked.
    time.advance(-500);
    expect(backoff.check("a")).toEqual({ allowed: false, retryAfterS: 1 });
  });

  it("a success clears the address", () => {
    const time = clock();
    const backoff = new SignInBackoff({ now: time.now });
    backoff.failure("a");
    backoff.failure("a");
    backoff.success("a");
    expect(backoff.check("a")).toEqual({ allowed: true });
    backoff.failure("a");
    expect(backoff.check("a")).toEqual({ allowed: false, retryAfterS: 1 });
  });

  it("forgets an address quiet for 5 minutes past its window: the next failure costs 1 s again", () => {
    const time = clock();
    const backoff = new SignInBackoff({ now: time.now });
    for (let i = 0; i < 3; i++) backoff.failure("a"); // window 4 s
    time.advance(4_000 + BACKOFF_MAX_MS - 1);
    backoff.failure("a");
    expect(backoff.check("a")).toEqual({ allowed: false, retryAfterS: 8 });
    time.advance(8_000 + BACKOFF_MAX_MS);
    expect(backoff.size).toBe(1);
    expect(backoff.check("a")).toEqual({ allowed: true });
    expect(backoff.size).toBe(0);
    backoff.failure("a");
    expect(backoff.check("a")).toEqual({ allowed: false, retryAfterS: 1 });
  });

  it("holds at most `capacity` addresses, forgetting the least recently failed", () => {
    const time = clock();
    const backoff = new SignInBackoff({ now: time.now, capacity: 3 });
    for (const address of ["a", "b", "c"]) backoff.failure(address);
    backoff.failure("a"); // a is now the most recent
    backoff.failure("d"); // evicts b
    expect(backoff.size).toBe(3);
    expect(backoff.check("b")).toEqual({ allowed: true });
    expect(backoff.check("a")).toEqual({ allowed: false, retryAfterS: 2 });
    expect(backoff.check("c").allowed).toBe(false);
    expect(backoff.check("d").allowed).toBe(false);
  });

  it("stays bounded at the default capacity when an attacker rotates addresses", () => {
    const backoff = new SignInBackoff({ now: clock().now });
    for (let i = 0; i < 25_000; i++) backoff.failure(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    expect(backoff.size).toBe(10_000);
    expect(backoff.check("10.0.0.0").allowed).toBe(true); // among the first, long evicted
    expect(backoff.check("10.0.97.167").allowed).toBe(false); // the last one
  });
});
