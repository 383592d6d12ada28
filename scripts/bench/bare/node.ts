// The runtime's own limit on Node: the smallest fetch proxy built from what the balancer uses
// there (@hono/node-server for the listener, the global fetch (undici) upstream), to one upstream.
//
//   node node.mjs UPSTREAM_URL PORT
import { serve } from "@hono/node-server";

const upstream = process.argv[2]!;
const port = Number(process.argv[3] ?? 0);

serve(
  {
    fetch(request: Request) {
      const url = request.url;
      return fetch(upstream + url.slice(url.indexOf("/", url.indexOf("://") + 3)));
    },
    port,
    hostname: "127.0.0.1",
  },
  (info) => console.log(`bare proxy listening on :${info.port}`),
);
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
