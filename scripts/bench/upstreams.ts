// The bench's upstreams: N tiny node:http servers in one process, each answering every request
// with a short fixed text body over keep-alive connections, and accepting WebSockets on any path
// that echo every message back as it came. Run as a child process:
//
//   node --import tsx scripts/bench/upstreams.ts [count=3]
//
// prints one JSON line {"urls":[...]} once every server listens on its free 127.0.0.1 port.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";

export const UPSTREAM_HEADERS = { "content-type": "text/plain; charset=utf-8" } as const;

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 3);
  const urls: string[] = [];
  for (let i = 1; i <= count; i++) {
    const body = Buffer.from(`Hello from server${i}\n`);
    const headers = { ...UPSTREAM_HEADERS, "content-length": String(body.length), "x-upstream": `server${i}` };
    const server = createServer((req, res) => {
      // Requests carry no body here, but drain any so the connection stays reusable.
      req.resume();
      res.writeHead(200, headers);
      res.end(body);
    });
    // No compression: the echo rows measure relaying frames, not deflate.
    const webSockets = new WebSocketServer({ noServer: true, perMessageDeflate: false });
    server.on("upgrade", (req, socket, head) => {
      socket.on("error", () => undefined);
      webSockets.handleUpgrade(req, socket, head, (ws) => {
        ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
        ws.on("error", () => undefined);
      });
    });
    server.keepAliveTimeout = 120_000;
    server.headersTimeout = 130_000;
    server.maxRequestsPerSocket = 0;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
  process.stdout.write(`${JSON.stringify({ urls })}\n`);
  const stop = () => process.exit(0);
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // The parent's end of stdin/stdout going away also ends us (never outlive the bench).
  process.stdout.on("error", stop);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
