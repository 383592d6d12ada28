import { describe, expect, it } from "vitest";
import { installShutdown, type ShutdownOptions, type ShutdownSignal } from "../../src/runtime/shutdown.ts";

/** installShutdown with recording fakes; `exited` resolves with the first exit code. */
function harness(overrides: Partial<ShutdownOptions> = {}) {
  const steps: string[] = [];
  const handlers = new Map<ShutdownSignal, () => void>();
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  const codes: number[] = [];
  installShutdown({
    onSignal: (signal, handler) => handlers.set(signal, handler),
    drain: async () => void steps.push("drain"),
    forceClose: () => void steps.push("force"),
    flush: async () => void steps.push("flush"),
    stopBackground: () => steps.push("background"),
    timeoutMs: 1_000,
    log: (line) => steps.push(`log: ${line}`),
    exit: (code) => {
      codes.push(code);
      exit(code);
    },
    ...overrides,
  });
  return { steps, handlers, exited, codes };
}

describe("installShutdown", () => {
  it("listens for SIGTERM and SIGINT", () => {
    expect([...harness().handlers.keys()].sort()).toEqual(["SIGINT", "SIGTERM"]);
  });

  it("drains, then flushes, then exits 0", async () => {
    const { steps, handlers, exited } = harness();
    handlers.get("SIGTERM")!();
    expect(await exited).toBe(0);
    expect(steps.filter((s) => !s.startsWith("log"))).toEqual(["background", "drain", "flush"]);
    expect(steps[0]).toMatch(/^log: SIGTERM: shutting down; in-flight requests have up to 1000 ms/);
  });

  it("closes what is left after the timeout, still flushes and exits 0", async () => {
    const { steps, handlers, exited } = harness({ drain: () => new Promise(() => undefined), timeoutMs: 30 });
    handlers.get("SIGINT")!();
    expect(await exited).toBe(0);
    expect(steps.filter((s) => !s.startsWith("log"))).toEqual(["background", "force", "flush"]);
    expect(steps.some((s) => s.includes("still in flight after 30 ms"))).toBe(true);
  });

  it("exits 0 even when the final flush fails", async () => {
    const { steps, handlers, exited } = harness({ flush: () => Promise.reject(new Error("store down")) });
    handlers.get("SIGTERM")!();
    expect(await exited).toBe(0);
    expect(steps.some((s) => s.includes("flushing counters failed: store down"))).toBe(true);
  });

  it("a second signal exits 1 at once", async () => {
    const { handlers, codes } = harness({ drain: () => new Promise(() => undefined), timeoutMs: 200 });
    handlers.get("SIGTERM")!();
    handlers.get("SIGINT")!();
    expect(codes).toEqual([1]);
  });
});
