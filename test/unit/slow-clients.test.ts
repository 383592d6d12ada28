import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load-config.ts";
import { bunTimeouts, nodeTimeouts, upstreamWaitMs } from "../../src/runtime/slow-clients.ts";

const config = (env: Record<string, string>) => loadConfig({ env: { BACKENDS: "http://127.0.0.1:3031", ...env } });

describe("server limits from the config", () => {
  it("defaults: Node 10 s for headers, 60 s idle, 10000 connections, no whole-request deadline", () => {
    expect(nodeTimeouts(config({}))).toEqual({
      headersTimeout: 10_000,
      requestTimeout: 0,
      keepAliveTimeout: 59_000,
      idleTimeout: 60_000,
      connectionsCheckingInterval: 1_000,
      maxConnections: 10_000,
    });
  });

  it("MAX_CONNECTIONS=0 leaves Node uncapped; short limits check headers often", () => {
    const limits = nodeTimeouts(config({ MAX_CONNECTIONS: "0", HEADER_TIMEOUT_MS: "100", IDLE_TIMEOUT_MS: "500" }));
    expect(limits.maxConnections).toBeUndefined();
    expect(limits.connectionsCheckingInterval).toBe(25);
    expect(limits.keepAliveTimeout).toBe(0);
  });

  it("the upstream wait covers every attempt running to its timeout", () => {
    expect(upstreamWaitMs(config({}))).toBe(90_000);
    expect(upstreamWaitMs(config({ TIMEOUT_MS: "5000", MAX_ATTEMPTS: "1" }))).toBe(5_000);
  });

  it.each([
    [{}, { idleSeconds: 60, upstreamSeconds: 91 }],
    [
      { IDLE_TIMEOUT_MS: "1000", TIMEOUT_MS: "5000", MAX_ATTEMPTS: "1" },
      { idleSeconds: 1, upstreamSeconds: 6 },
    ],
    [{ IDLE_TIMEOUT_MS: "100" }, { idleSeconds: 1, upstreamSeconds: 91 }],
    [
      { IDLE_TIMEOUT_MS: "120000", TIMEOUT_MS: "1000", MAX_ATTEMPTS: "1" },
      { idleSeconds: 120, upstreamSeconds: 120 },
    ],
    [
      { IDLE_TIMEOUT_MS: "3600000", TIMEOUT_MS: "600000" },
      { idleSeconds: 255, upstreamSeconds: 255 },
    ],
  ])("Bun seconds for %o: %o (whole seconds, 1-255)", (env, expected) => {
    expect(bunTimeouts(config(env as Record<string, string>))).toEqual(expected);
  });
});
