import { readFileSync } from "node:fs";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, SERVER_RUNTIMES, startServer } from "../support/runtimes.ts";
import { ADMIN_TOKEN } from "../support/worker.ts";

// Sign-in is the one admin route an anonymous client can make the balancer work for. Parsing its
// body whole once let a 200 MB POST take Node to 1.1 GB; here ten 50 MB sign-ins at once (and
// one chunked one with no length) must each be refused while the process barely grows.

const MB = 1024 * 1024;
const BODY_BYTES = 50 * MB;

/** The process's peak resident set so far (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmHWM:"));
  if (!line) throw new Error(`no VmHWM for ${pid}`);
  return Number(/(\d+)\s*kB/.exec(line)![1]) * 1024;
}

interface Sent {
  status: number;
  body: string;
  /** Bytes this client had handed to its socket when the answer came. */
  written: number;
}

/**
 * POSTs up to `total` bytes of `token=xxxx…` to /_lb/login, with a Content-Length (declared) or
 * chunked, writing with backpressure until the answer arrives, then stops and closes.
 */
function signInPost(server: RunningServer, total: number, declared: boolean): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {
      origin: server.url,
      "content-type": "application/x-www-form-urlencoded",
    };
    if (declared) headers["content-length"] = total;
    const req = request(`${server.url}/_lb/login`, { method: "POST", headers });
    const chunk = Buffer.alloc(64 * 1024, "x");
    let written = 0;
    let answered = false;
    const pump = () => {
      if (written === 0) {
        req.write("token=");
        written += 6;
      }
      while (!answered && written < total) {
        const piece = chunk.subarray(0, Math.min(chunk.length, total - written));
        written += piece.length;
        if (!req.write(piece)) return void req.once("drain", pump);
      }
      if (!answered) req.end();
    };
    req.on("response", (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on("data", (part: Buffer) => parts.push(part));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString(), written });
        req.destroy();
      });
      res.on("error", reject);
    });
    // Once answered, the balancer may close the connection while we were still writing.
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    pump();
  });
}

describe("hostile sign-ins on Node", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer("node", ["--backends=http://127.0.0.1:9"], { ADMIN_TOKEN, LOG_REQUESTS: "false" });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("refuses ten parallel 50 MB sign-ins and a chunked one with 413 before reading them; peak RSS grows < 50 MB", async () => {
    // Warm the same code paths first, so the baseline includes what any sign-in costs.
    const small = await signInPost(server, 8 * 1024, true);
    expect(small.status).toBe(413);
    const pid = server.process.pid!;
    const before = peakRss(pid);

    const results = await Promise.all([
      ...Array.from({ length: 10 }, () => signInPost(server, BODY_BYTES, true)),
      signInPost(server, BODY_BYTES, false),
    ]);
    const after = peakRss(pid);

    for (const result of results) {
      expect(result.status).toBe(413);
      expect(JSON.parse(result.body)).toMatchObject({ error: "payload_too_large" });
      // Answered long before the upload could have finished.
      expect(result.written).toBeLessThan(BODY_BYTES);
    }
    const growth = after - before;
    console.log(
      `admin-hostile: peak RSS ${(before / MB).toFixed(1)} MB -> ${(after / MB).toFixed(1)} MB (+${(growth / MB).toFixed(1)} MB)`,
    );
    expect(growth).toBeLessThan(50 * MB);

    // Still serving, and an honest sign-in still works (none of the above counted as a failure).
    expect((await fetch(`${server.url}/_lb/healthz`)).status).toBe(200);
    const signIn = await fetch(`${server.url}/_lb/login`, {
      method: "POST",
      headers: { origin: server.url },
      body: new URLSearchParams({ token: ADMIN_TOKEN }),
      redirect: "manual",
    });
    expect(signIn.status).toBe(303);
    expect(signIn.headers.getSetCookie()[0]).toMatch(/^edge_lb_admin=v1\./);
  });
});

describe("sessions across runtimes", () => {
  const servers: RunningServer[] = [];
  beforeAll(async () => {
    for (const runtime of SERVER_RUNTIMES) {
      servers.push(
        await startServer(runtime, ["--backends=http://127.0.0.1:9"], { ADMIN_TOKEN, LOG_REQUESTS: "false" }),
      );
    }
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  const disable = (server: RunningServer, headers: Record<string, string>) =>
    fetch(`${server.url}/_lb/backends/127.0.0.1:9/disable`, { method: "POST", headers });

  it("a session signed on any runtime is accepted by every other sharing the token, and only from the same origin", async () => {
    for (const issuer of servers) {
      const login = await fetch(`${issuer.url}/_lb/login`, {
        method: "POST",
        headers: { origin: issuer.url },
        body: new URLSearchParams({ token: ADMIN_TOKEN }),
        redirect: "manual",
      });
      expect(login.status, issuer.runtime).toBe(303);
      const cookie = login.headers.getSetCookie()[0]!.split(";")[0]!;
      for (const server of servers) {
        const label = `${issuer.runtime} -> ${server.runtime}`;
        expect((await fetch(`${server.url}/_lb/status`, { headers: { cookie } })).status, label).toBe(200);
        expect((await disable(server, { cookie, origin: "https://evil.example" })).status, label).toBe(403);
        expect((await disable(server, { cookie, origin: server.url })).status, label).toBe(200);
      }
    }
  });

  it("every runtime refuses an oversized sign-in with 413 and backs off a failed one with 429", async () => {
    for (const server of servers) {
      const big = await fetch(`${server.url}/_lb/login`, {
        method: "POST",
        headers: { origin: server.url, "content-type": "application/x-www-form-urlencoded" },
        body: `token=${"x".repeat(10_000)}`,
      });
      expect(big.status, server.runtime).toBe(413);
      const wrong = await fetch(`${server.url}/_lb/login`, {
        method: "POST",
        headers: { origin: server.url },
        body: new URLSearchParams({ token: "not-the-token-0000000" }),
      });
      expect(wrong.status, server.runtime).toBe(401);
      const blocked = await fetch(`${server.url}/_lb/login`, {
        method: "POST",
        headers: { origin: server.url },
        body: new URLSearchParams({ token: ADMIN_TOKEN }),
      });
      expect(blocked.status, server.runtime).toBe(429);
      expect(blocked.headers.get("retry-after"), server.runtime).toBe("1");
    }
  });
});
