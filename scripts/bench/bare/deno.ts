// The runtime's own limit on Deno: Deno.serve answering every request with fetch(upstream + path).
//
//   deno run --allow-net scripts/bench/bare/deno.ts UPSTREAM_URL PORT
interface DenoServeOptions {
  port: number;
  hostname: string;
  onListen?(address: { port: number }): void;
}
const runtime = globalThis as unknown as {
  Deno: {
    args: string[];
    serve(options: DenoServeOptions, handler: (request: Request) => Response | Promise<Response>): unknown;
    addSignalListener(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
    exit(code: number): never;
  };
};
const { Deno } = runtime;

const upstream = Deno.args[0]!;
const port = Number(Deno.args[1] ?? 0);

Deno.serve(
  { port, hostname: "127.0.0.1", onListen: (address) => console.log(`bare proxy listening on :${address.port}`) },
  (request) => {
    const url = request.url;
    return fetch(upstream + url.slice(url.indexOf("/", url.indexOf("://") + 3)));
  },
);
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
Deno.addSignalListener("SIGINT", () => Deno.exit(0));

export {};
