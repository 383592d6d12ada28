// Node's upstream client (src/runtime/node-upstream.ts) against real node:http upstreams on
// 127.0.0.1: one keep-alive pool per backend, UPSTREAM_CONNECTIONS as its cap, and the fetch
// behaviour the proxy relies on (Host sent, Set-Cookie kept separate, redirects and encodings
// passed on, bodies streamed both ways, aborts before and after the headers).
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { nodeUpstream } from "../../src/runtime/node-upstream.ts";
import { startNodeLb } from "../support/node-lb.ts";

type Handler = (req: IncomingMessage, res: ServerResponse, socket: Socket) => void;

const servers: Server[] = [];

async function upstream(handler: Handler): Promise<{ url: string; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    sockets.add(req.socket);
    handler(req, res, req.socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe("nodeUpstream", () => {
  it("reuses kept-alive connections for sequential requests", async () => {
    const { url, sockets } = await upstream((_req, res) => res.end("ok"));
    const send = nodeUpstream({ connections: undefined });
    for (let i = 0; i < 10; i++) expect(await (await send(`${url}/n/${i}`)).text()).toBe("ok");
    // A request sent the moment the last one's response ended may find that connection not yet
    // released (undici frees it on the next tick) and open one more; never one per request.
    expect(sockets.size).toBeLessThanOrEqual(2);
  });

  it("opens at most UPSTREAM_CONNECTIONS connections to one backend; the rest wait their turn", async () => {
    const held: ServerResponse[] = [];
    let open = 0;
    let most = 0;
    const { url, sockets } = await upstream((_req, res) => {
      open++;
      most = Math.max(most, open);
      res.on("finish", () => open--);
      held.push(res);
    });
    const send = nodeUpstream({ connections: 2 });
    const answers = Array.from({ length: 6 }, (_, i) => send(`${url}/${i}`));
    // Release the held requests two at a time as they arrive, until all six have been answered.
    let answered = 0;
    while (answered < 6) {
      await expect.poll(() => held.length, { timeout: 5_000 }).toBeGreaterThan(0);
      for (const res of held.splice(0)) {
        res.end("done");
        answered++;
      }
    }
    const bodies = await Promise.all(answers.map(async (p) => (await p).text()));
    expect(bodies).toEqual(Array(6).fill("done"));
    expect(most).toBeLessThanOrEqual(2);
    expect(sockets.size).toBeLessThanOrEqual(2);
  });

  it("sends the Host it is given, keeps Set-Cookie separate, and returns redirects and encodings as sent", async () => {
    const { url } = await upstream((req, res) => {
      res.setHeader("set-cookie", ["a=1; Path=/", "b=2; Path=/"]);
      res.setHeader("x-host", req.headers.host ?? "");
      if (req.url === "/redirect") {
        res.writeHead(302, { location: "/elsewhere" });
        res.end();
        return;
      }
      res.writeHead(200, { "content-encoding": "gzip", "content-length": "4" });
      res.end(Buffer.from([1, 2, 3, 4]));
    });
    const send = nodeUpstream({ connections: undefined });
    const redirect = await send(`${url}/redirect`, { headers: new Headers({ host: "client.example" }) });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get("location")).toBe("/elsewhere");
    expect(redirect.headers.get("x-host")).toBe("client.example");
    expect(redirect.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"]);
    const encoded = await send(`${url}/gz`);
    expect(encoded.headers.get("content-encoding")).toBe("gzip");
    expect(new Uint8Array(await encoded.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3, 4]));
    expect(typeof send.send).toBe("function");
  });

  it("streams a request body up and a response body down, chunk by chunk", async () => {
    let upstreamGot = "";
    let finishResponse: (() => void) | undefined;
    const { url } = await upstream((req, res) => {
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => {
        upstreamGot += chunk;
      });
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("first;");
        finishResponse = () => res.end("second");
      });
    });
    const send = nodeUpstream({ connections: undefined });
    const encoder = new TextEncoder();
    const parts = ["one,", "two,", "three"];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const part = parts.shift();
        if (part === undefined) controller.close();
        else controller.enqueue(encoder.encode(part));
      },
    });
    const response = await send(`${url}/upload`, { method: "POST", body, duplex: "half" } as RequestInit);
    expect(upstreamGot).toBe("one,two,three");
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    expect((await reader.read()).value).toBe("first;");
    await expect.poll(() => finishResponse !== undefined).toBe(true);
    finishResponse!();
    let rest = "";
    for (let step = await reader.read(); !step.done; step = await reader.read()) rest += step.value;
    expect(rest).toBe("second");
  });

  it("aborts before the headers with the signal's reason, and after them by cancelling the body", async () => {
    let closed = 0;
    let arrived = 0;
    const { url } = await upstream((req, res, socket) => {
      arrived++;
      socket.once("close", () => closed++);
      if (req.url === "/stream") {
        res.writeHead(200);
        res.write("start");
      }
      // "/hang": never answers.
    });
    const send = nodeUpstream({ connections: undefined });
    const controller = new AbortController();
    const hanging = send(`${url}/hang`, { signal: controller.signal });
    await expect.poll(() => arrived).toBe(1);
    const reason = new Error("upstream timeout");
    controller.abort(reason);
    await expect(hanging).rejects.toBe(reason);
    await expect.poll(() => closed, { timeout: 5_000 }).toBe(1);

    const streaming = await send(`${url}/stream`);
    const reader = streaming.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("start");
    await reader.cancel(new Error("client went away"));
    await expect.poll(() => closed, { timeout: 5_000 }).toBe(2);
  });

  it("send: drops hop-by-hop response headers, and a call still queued at the cap rejects at once when aborted", async () => {
    const held: ServerResponse[] = [];
    const { url } = await upstream((_req, res) => {
      res.setHeader("connection", "keep-alive, x-hop");
      res.setHeader("x-hop", "1");
      res.setHeader("x-end", "2");
      held.push(res);
    });
    const { send } = nodeUpstream({ connections: 1 });
    const first = send(`${url}/first`, { method: "GET", headers: [], body: null });
    const queued = send(`${url}/queued`, { method: "GET", headers: [], body: null });
    await expect.poll(() => held.length).toBe(1);
    const reason = new Error("upstream timeout");
    queued.abort(reason);
    await expect(queued.response).rejects.toBe(reason);
    held[0]!.end("ok");
    const response = await first.response;
    expect(response.headers.get("x-end")).toBe("2");
    expect(response.headers.has("connection")).toBe(false);
    expect(response.headers.has("x-hop")).toBe(false);
    expect(await response.text()).toBe("ok");
    expect(held).toHaveLength(1);
  });

  it("send: reports the declared length of a body as it came, and none when Connection names it or it is encoded", async () => {
    const { url } = await upstream((req, res) => {
      if (req.url === "/named") res.setHeader("connection", "keep-alive, content-length");
      if (req.url === "/gz") res.setHeader("content-encoding", "gzip");
      if (req.url === "/chunked") {
        res.write("chunk");
        res.end();
        return;
      }
      res.setHeader("content-length", "9");
      res.end("declared\n");
    });
    const { send } = nodeUpstream({ connections: undefined });
    const lengthOf = async (path: string) => {
      const call = send(`${url}${path}`, { method: "GET", headers: [], body: null });
      const response = await call.response;
      await response.arrayBuffer();
      return { declared: call.declaredLength, header: response.headers.get("content-length") };
    };
    // node:http sends Connection: keep-alive itself, so the hop-by-hop path is the usual one.
    expect(await lengthOf("/plain")).toEqual({ declared: 9, header: "9" });
    expect(await lengthOf("/named")).toEqual({ declared: undefined, header: null });
    expect((await lengthOf("/gz")).declared).toBeUndefined();
    expect(await lengthOf("/chunked")).toEqual({ declared: undefined, header: null });
  });

  it("rejects as fetch does when nothing listens (the proxy reads the cause's code)", async () => {
    const { url } = await upstream((_req, res) => res.end());
    const port = new URL(url).port;
    servers[0]!.close();
    servers.splice(0);
    const error = await nodeUpstream({ connections: undefined })(`http://127.0.0.1:${port}/`).catch((e) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as { cause?: { code?: string } }).cause?.code).toBe("ECONNREFUSED");
  });
});

describe("the Node balancer with it", () => {
  it("closes the upstream request when the client goes away before the response's head", async () => {
    let arrived = 0;
    let closed = 0;
    const { url } = await upstream((req) => {
      arrived++;
      // Never answers; the request's connection closing is what is awaited.
      req.socket.once("close", () => closed++);
    });
    const lb = await startNodeLb([`--backends=${url}`, "--timeout-ms=30000"]);
    try {
      const client = httpRequest(`${lb.url}/hang`);
      client.on("error", () => undefined);
      client.end();
      await expect.poll(() => arrived, { timeout: 5_000 }).toBe(1);
      client.destroy();
      await expect.poll(() => closed, { timeout: 1_000 }).toBe(1);
    } finally {
      await lb.stop();
    }
  });
});
