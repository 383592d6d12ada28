// The compose demo's upstream, bundled into the same image as the balancer (/app/upstream.mjs):
// answers `Hello from <name>` (with an x-upstream header), and /healthz with 200.
//
//   node /app/upstream.mjs --name=upstream1 --port=8080 [--host=0.0.0.0]

import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { startUpstream } from "../upstream.ts";

const { values } = parseArgs({
  options: { name: { type: "string" }, port: { type: "string" }, host: { type: "string" } },
  strict: true,
});
const name = values.name ?? process.env["UPSTREAM_NAME"] ?? hostname();
const portText = values.port ?? process.env["PORT"] ?? "8080";
if (!/^\d+$/.test(portText) || Number(portText) > 65535) {
  console.error(`--port: expected an integer from 0 to 65535 (got "${portText}")`);
  process.exit(1);
}
const upstream = await startUpstream({ name, port: Number(portText), host: values.host ?? "0.0.0.0" });
console.log(`Upstream ${name} listening on :${upstream.port}`);

// startUpstream records every request for the tests; a long-running demo must not keep them all.
setInterval(() => {
  upstream.received.length = 0;
}, 1_000).unref();

// As PID 1 in a container, node gets no default action for these signals: handle them.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void upstream.close().then(() => process.exit(0));
  });
}
