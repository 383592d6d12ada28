// `npm start`: three hello-world upstreams on 127.0.0.1:3031-3033, like the seed's containers,
// and the balancer under `wrangler dev` on 127.0.0.1:3000. Ctrl-C stops all of it.
import { spawn } from "node:child_process";
import { startUpstream, type Upstream } from "./upstream.ts";

const upstreams: Upstream[] = [];
for (const [index, name] of ["server1", "server2", "server3"].entries()) {
  upstreams.push(await startUpstream({ name, port: 3031 + index }));
  console.log(`demo upstream ${name} on http://127.0.0.1:${3031 + index}`);
}

const wrangler = spawn("npx", ["wrangler", "dev", ...process.argv.slice(2)], {
  stdio: "inherit",
  env: {
    ...process.env,
    // No network calls that cannot succeed here: no Request.cf download, no telemetry.
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
  },
});

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  wrangler.kill("SIGINT");
  await Promise.all(upstreams.map((u) => u.close()));
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));
wrangler.on("exit", (code) => void stop(code ?? 0));
