// The runtime's own limit on Bun: Bun.serve answering every request with fetch(upstream + path).
//
//   bun scripts/bench/bare/bun.ts UPSTREAM_URL PORT
interface BunServeOptions {
  port: number;
  hostname: string;
  fetch(request: Request): Response | Promise<Response>;
}
const runtime = globalThis as unknown as { Bun: { serve(options: BunServeOptions): { port: number } } };

const upstream = process.argv[2]!;
const port = Number(process.argv[3] ?? 0);

const server = runtime.Bun.serve({
  port,
  hostname: "127.0.0.1",
  fetch(request) {
    const url = request.url;
    return fetch(upstream + url.slice(url.indexOf("/", url.indexOf("://") + 3)));
  },
});
console.log(`bare proxy listening on :${server.port}`);
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));

export {};
