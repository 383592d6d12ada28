// What only the Bun and Deno balancers need checked about WebSockets (they relay message by
// message: their server upgrade on the client's side, the ws client on the backend's); what
// every runtime does is in test/conformance/websockets.test.ts. Real processes, real upstreams,
// a ws client talking only to 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { type RunningServer, startServer } from "../support/runtimes.ts";
import { startUpstreams } from "../support/upstreams.ts";
import { closeOpenClients, connect } from "../support/websocket-client.ts";

describe.each(["bun", "deno"] as const)("WebSockets through the %s balancer", (runtime) => {
  let live: Upstream;
  let lb: RunningServer;

  beforeAll(async () => {
    live = (await startUpstreams([`${runtime}-ws-live`]))[0]!;
    // IDLE_TIMEOUT_MS is for HTTP connections (Deno has none): an open WebSocket is not one.
    lb = await startServer(runtime, [`--backends=${live.url}`], { LOG_REQUESTS: "true", IDLE_TIMEOUT_MS: "1000" });
  });
  afterAll(async () => {
    closeOpenClients();
    await lb?.stop();
    await live?.close();
  });

  it("keeps a quiet WebSocket open past the HTTP idle timeout", async () => {
    const client = await connect(lb.url, "/ws");
    let closed = false;
    void client.closed.then(() => (closed = true));
    // Silence on both sides for twice IDLE_TIMEOUT_MS: what is being shown is that nothing happens.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(closed).toBe(false);
    client.ws.send("still here");
    const [echo] = await client.received(1);
    expect(echo!.data.toString()).toBe("still here");
    client.ws.close();
    await client.closed;
  });

  it("logs the upgrade as a forwarded request", async () => {
    const client = await connect(lb.url, "/ws");
    client.ws.close();
    await client.closed;
    // Log lines reach stdout within 20 ms of being logged (the batched writer): polled, not read once.
    await expect.poll(() => lb.stdout.some((line) => line.endsWith(`Forwarding request to: ${live.url}`))).toBe(true);
  });
});
