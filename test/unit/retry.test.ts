import { describe, expect, it } from "vitest";
import { RetryBudget } from "../../src/pool/retry-budget.ts";
import { isRetryableStatus, mayRepeat } from "../../src/proxy/retry.ts";

const request = (method: string, headers: Record<string, string> = {}) =>
  new Request("http://lb.test/x", {
    method,
    headers,
    ...(method === "POST" || method === "PATCH" ? { body: "b" } : {}),
  });

describe("which requests may be repeated after they may have reached a backend", () => {
  it("idempotent methods may (RFC 9110 9.2.2); POST and PATCH may not", () => {
    for (const method of ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
      expect(mayRepeat(request(method)), method).toBe(true);
    for (const method of ["POST", "PATCH"]) expect(mayRepeat(request(method)), method).toBe(false);
  });

  it("an Idempotency-Key makes any method repeatable", () => {
    expect(mayRepeat(request("POST", { "idempotency-key": "k-1" }))).toBe(true);
    expect(mayRepeat(request("PATCH", { "Idempotency-Key": "k-2" }))).toBe(true);
  });

  it("only 502, 503 and 504 are worth another backend", () => {
    expect([500, 501, 502, 503, 504, 505, 429, 404, 200].filter(isRetryableStatus)).toEqual([502, 503, 504]);
  });
});

describe("the retry budget (Finagle style)", () => {
  it("starts with its reserve and spends one retry at a time until it is empty", () => {
    const budget = new RetryBudget(0.2, 3);
    expect([budget.trySpend(), budget.trySpend(), budget.trySpend(), budget.trySpend()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(budget.balance).toBe(0);
  });

  it("earns 0.2 of a retry per success: five successes buy one retry", () => {
    const budget = new RetryBudget(0.2, 10);
    while (budget.trySpend()) {}
    for (let i = 0; i < 4; i++) budget.earn();
    expect(budget.trySpend()).toBe(false);
    budget.earn();
    expect(budget.trySpend()).toBe(true);
    expect(budget.trySpend()).toBe(false);
  });

  it("never holds more than its reserve, however long it is quiet", () => {
    const budget = new RetryBudget(0.5, 2);
    for (let i = 0; i < 100; i++) budget.earn();
    expect(budget.balance).toBe(2);
  });

  it("keeps retries within the earn ratio when every other request fails", () => {
    const budget = new RetryBudget(0.2, 10);
    let retries = 0;
    for (let i = 0; i < 10_000; i++) {
      if (i % 2 === 0) {
        if (budget.trySpend()) retries++;
      } else budget.earn();
    }
    // The reserve of 10 plus 5,000 successes x 0.2: spent, or still there after the last success.
    // (In floating point, 0.2 five times falls short of one retry and some would be lost.)
    expect(retries).toBe(1_009);
    expect(budget.balance).toBe(1);
  });
});
