// `npm start`: three hello-world upstreams on 127.0.0.1:3031-3033, like the original Go balancer's demo containers (README),
// and the balancer under `wrangler dev` on 127.0.0.1:3000. Ctrl-C stops all of it.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { startUpstream, type Upstream } from "./upstream.ts";

const upstreams: Upstream[] = [];
for (const [index, name] of ["server1", "server2", "server3"].entries()) {
  upstreams.push(await startUpstream({ name, port: 3031 + index }));
  console.log(`demo upstream ${name} on http://127.0.0.1:${3031 + index}`);
}

// wrangler's own entry, not npx, so our signals reach it and not an intermediate process.
const wranglerBin = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
const wrangler = spawn(process.execPath, [wranglerBin, "dev", ...process.argv.slice(2)], {
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
  if (wrangler.exitCode === null) {
    const exited = new Promise((resolve) => wrangler.once("exit", resolve));
    wrangler.kill("SIGINT");
    const forced = setTimeout(() => wrangler.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(forced);
  }
  await Promise.all(upstreams.map((u) => u.close()));
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));
wrangler.on("exit", (code) => void stop(code ?? 0));
