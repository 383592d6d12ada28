import { describe, expect, it } from "vitest";
import type { UpstreamUpgrade } from "../../src/proxy/websocket-connector.ts";
import { WorkerWebSocketConnector } from "../../src/runtime/cloudflare/websocket-connector.ts";

// The handshake half of the Worker's connector, with fetch replaced: what it sends and how it
// classifies answers and failures. The relay half needs workerd (worker-websockets.test.ts).

const upgrade = (overrides: Partial<UpstreamUpgrade> = {}): UpstreamUpgrade => ({
  url: "http://127.0.0.1:9/ws",
  headers: new Headers({
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
    "sec-websocket-extensions": "permessage-deflate; client_max_window_bits",
    "sec-websocket-protocol": "a, b",
    "x-forwarded-for": "203.0.113.7",
  }),
  protocols: ["a", "b"],
  timeoutMs: 1_000,
  ...overrides,
});

const connectorAnswering = (answer: (init: RequestInit) => Promise<Response>) => {
  const seen: RequestInit[] = [];
  const connector = new WorkerWebSocketConnector((_input, init) => {
    seen.push(init ?? {});
    return answer(init ?? {});
  });
  return { connector, seen };
};

describe("the Worker's WebSocket connector", () => {
  it("leaves key, version and extensions to workerd and sends the offered subprotocols", async () => {
    const { connector, seen } = connectorAnswering(async () => new Response("no", { status: 426 }));
    await connector.connect(upgrade());
    const headers = new Headers(seen[0]!.headers);
    expect(headers.get("upgrade")).toBe("websocket");
    expect(headers.get("connection")).toBe("Upgrade");
    expect(headers.get("sec-websocket-protocol")).toBe("a, b");
    expect(headers.get("x-forwarded-for")).toBe("203.0.113.7");
    for (const name of ["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"]) {
      expect(headers.has(name), name).toBe(false);
    }
    expect(seen[0]!.redirect).toBe("manual");
  });

  it("sends no Sec-WebSocket-Protocol when none was offered", async () => {
    const { connector, seen } = connectorAnswering(async () => new Response("no", { status: 426 }));
    await connector.connect(upgrade({ protocols: [] }));
    expect(new Headers(seen[0]!.headers).has("sec-websocket-protocol")).toBe(false);
  });

  it("hands a non-101 answer back as it is, minus hop-by-hop headers", async () => {
    const { connector } = connectorAnswering(
      async () =>
        new Response('{"denied":"nope!"}', {
          status: 403,
          headers: { "content-type": "application/json", connection: "close", "x-upstream": "a" },
        }),
    );
    const handshake = await connector.connect(upgrade());
    expect(handshake.kind).toBe("response");
    if (handshake.kind !== "response") return;
    expect(handshake.response.status).toBe(403);
    expect(handshake.response.headers.get("x-upstream")).toBe("a");
    expect(handshake.response.headers.has("connection")).toBe(false);
    expect(await handshake.response.json()).toEqual({ denied: "nope!" });
  });

  it("calls a 101 without a WebSocket a failure", async () => {
    // Node's Response refuses status 101; a stand-in carries it.
    const { connector } = connectorAnswering(async () => ({ status: 101, headers: new Headers() }) as Response);
    expect(await connector.connect(upgrade())).toMatchObject({ kind: "failed" });
  });

  it("classifies refused, lost and silent backends as forward.ts does", async () => {
    const refused = connectorAnswering(async () => {
      throw new TypeError("fetch failed", { cause: Object.assign(new Error("refused"), { code: "ECONNREFUSED" }) });
    });
    expect(await refused.connector.connect(upgrade())).toMatchObject({ kind: "unreachable" });

    // workerd's word for a refused connection, among others: the next backend is tried anyway.
    const lost = connectorAnswering(async () => {
      throw new Error("Network connection lost.");
    });
    expect(await lost.connector.connect(upgrade())).toEqual({ kind: "failed", reason: "Network connection lost." });

    const silent = connectorAnswering(
      (init) =>
        new Promise((_resolve, reject) =>
          init.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true }),
        ),
    );
    expect(await silent.connector.connect(upgrade({ timeoutMs: 20 }))).toEqual({
      kind: "timeout",
      reason: "no handshake answer within 20 ms",
    });
  });
});
