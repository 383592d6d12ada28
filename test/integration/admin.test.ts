import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { signSession } from "../../src/admin/session.ts";
import { sendMany } from "../support/load.ts";
import { backendsOf, startUpstreams, tally } from "../support/upstreams.ts";
import { ADMIN_TOKEN, backendStatus, startWorker, status, type WorkerInstance } from "../support/worker.ts";

describe("the admin API: drain, disable, enable", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const act = (name: string, action: string, headers: Record<string, string> = auth) =>
    worker.fetch(`/_lb/backends/${encodeURIComponent(name)}/${action}`, { method: "POST", headers });

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    worker = await startWorker({ BACKENDS: backendsOf(upstreams), ADMIN_TOKEN });
  });
  afterAll(async () => {
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  const nameOf = (u: Upstream) => new URL(u.url).host;

  it("refuses without the token and does not proxy the admin prefix", async () => {
    expect((await act(nameOf(upstreams[0]!), "drain", {})).status).toBe(401);
    expect((await act(nameOf(upstreams[0]!), "drain", { authorization: "Bearer wrong-token-0123456789" })).status).toBe(
      401,
    );
    const unknown = await worker.fetch("/_lb/nothing-here", { headers: auth });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("x-upstream")).toBeNull();
  });

  it("drains a backend: it takes no new requests; enable brings it back", async () => {
    const b = upstreams[1]!;
    const drained = await act(nameOf(b), "drain");
    expect(drained.status).toBe(200);
    // The answer says until when existing affinity sessions may still reach it: now (DRAIN_SECONDS 0).
    const answer = (await drained.json()) as { backend: string; admin: string; drain_until: string };
    expect({ backend: answer.backend, admin: answer.admin }).toEqual({ backend: nameOf(b), admin: "drained" });
    expect(Math.abs(Date.parse(answer.drain_until) - Date.now())).toBeLessThan(5_000);
    expect(backendStatus(await status(worker), b.url).admin).toBe("drained");
    expect(tally(await sendMany([worker], 60))).toEqual({ a: 30, c: 30 });

    expect((await act(nameOf(b), "enable")).status).toBe(200);
    expect(tally(await sendMany([worker], 60))).toEqual({ a: 20, b: 20, c: 20 });
  });

  it("answers 503 JSON when every backend is disabled, and names unknown backends and actions", async () => {
    for (const u of upstreams) expect((await act(nameOf(u), "disable")).status).toBe(200);
    const response = await worker.fetch("/");
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: "no_backend" });
    for (const u of upstreams) await act(nameOf(u), "enable");
    expect((await worker.fetch("/")).status).toBe(200);

    const unknownBackend = await act("nobody:1", "drain");
    expect(unknownBackend.status).toBe(404);
    expect(((await unknownBackend.json()) as { reason: string }).reason).toContain("nobody:1");
    expect((await act(nameOf(upstreams[0]!), "explode")).status).toBe(404);
  });
});

describe("GET /_lb/metrics", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b"]);
    worker = await startWorker({ BACKENDS: backendsOf(upstreams), ADMIN_TOKEN, EJECT_AFTER: "0" });
  });
  afterAll(async () => {
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  const metric = (text: string, line: RegExp) =>
    Number(
      text
        .split("\n")
        .find((l) => line.test(l))
        ?.split(" ")
        .at(-1) ?? NaN,
    );

  it("counts responses per backend and status class, failed attempts, retries and shared state", async () => {
    const [a, b] = upstreams as [Upstream, Upstream];
    const nameA = new URL(a.url).host;
    const nameB = new URL(b.url).host;
    await sendMany([worker], 20);
    b.mode = { kind: "status", status: 503 };
    await sendMany([worker], 20);
    const response = await worker.fetch("/_lb/metrics", { headers: auth });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toContain("# TYPE edge_lb_responses_total counter");
    const okA = metric(text, new RegExp(`^edge_lb_responses_total\\{pool="default",backend="${nameA}",code="2xx"\\}`));
    const okB = metric(text, new RegExp(`^edge_lb_responses_total\\{pool="default",backend="${nameB}",code="2xx"\\}`));
    expect(okA + okB).toBe(40); // every 503 from b was retried on a
    expect(okB).toBe(10);
    expect(
      metric(text, new RegExp(`^edge_lb_attempt_failures_total\\{pool="default",backend="${nameB}",kind="status"\\}`)),
    ).toBe(10);
    expect(metric(text, /^edge_lb_retries_total\{pool="default"\}/)).toBe(10);
    expect(metric(text, new RegExp(`^edge_lb_backend_healthy\\{pool="default",backend="${nameA}"\\}`))).toBe(1);
    expect(metric(text, /^edge_lb_store_degraded\{pool="default",store="memory"\}/)).toBe(0);
    b.mode = { kind: "ok" };
  });

  it("needs the token", async () => {
    expect((await worker.fetch("/_lb/metrics")).status).toBe(401);
  });
});

describe("the dashboard and its sign-in", () => {
  let worker: WorkerInstance;
  const BACKEND = "127.0.0.1:9";
  const SAME_ORIGIN = "http://balancer.test";
  const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };
  beforeAll(async () => {
    worker = await startWorker({ BACKENDS: `http://${BACKEND}`, ADMIN_TOKEN });
  });
  afterAll(async () => {
    await worker?.dispose();
  });

  // Each test signs in from its own address so one test's failed attempts never back off another's.
  const login = (token: string, clientIp: string, headers: Record<string, string> = { origin: SAME_ORIGIN }) =>
    worker.fetch("/_lb/login", {
      method: "POST",
      body: new URLSearchParams({ token }),
      headers,
      redirect: "manual",
      clientIp,
    });
  const signIn = async (clientIp: string) => {
    const response = await login(ADMIN_TOKEN, clientIp);
    expect(response.status).toBe(303);
    return { cookie: response.headers.getSetCookie()[0]!.split(";")[0]! };
  };
  const act = (action: string, headers: Record<string, string>) =>
    worker.fetch(`/_lb/backends/${encodeURIComponent(BACKEND)}/${action}`, { method: "POST", headers });
  const adminState = async () => backendStatus(await status(worker), `http://${BACKEND}`).admin;
  const now = () => Math.floor(Date.now() / 1000);

  it("needs a sign-in; the right token sets a strict, HttpOnly, Secure session cookie the admin routes accept", async () => {
    const anonymous = await worker.fetch("/_lb/", { redirect: "manual" });
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get("location")).toBe("/_lb/login");
    const form = await worker.fetch("/_lb/login");
    expect(form.status).toBe(200);
    expect(form.headers.get("content-security-policy")).toContain("script-src 'self'");
    const formHtml = await form.text();
    expect(formHtml).toContain('name="token"');
    expect(formHtml).not.toContain("Wrong admin token");

    const failed = await login("not-the-token-0000000", "198.51.100.1");
    expect(failed.status).toBe(401);
    expect(failed.headers.getSetCookie()).toEqual([]);
    expect(await failed.text()).toContain("Wrong admin token");

    const signedIn = await login(ADMIN_TOKEN, "198.51.100.2");
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get("location")).toBe("/_lb/");
    const cookie = signedIn.headers.getSetCookie()[0]!;
    expect(cookie).toMatch(/^edge_lb_admin=v1\.\d+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43};/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/_lb/);
    expect(cookie).toMatch(/Max-Age=43200/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).not.toContain(ADMIN_TOKEN);
    const expiry = Number(cookie.split(".")[1]);
    expect(Math.abs(expiry - (now() + 43_200))).toBeLessThanOrEqual(5);

    const session = { cookie: cookie.split(";")[0]! };
    for (const path of ["/_lb/", "/_lb"]) {
      const page = await worker.fetch(path, { headers: session });
      expect(page.status).toBe(200);
      // No inline script or style: the policy allows the page's own assets only.
      expect(page.headers.get("content-security-policy")).toMatch(
        /default-src 'none'; script-src 'self'; style-src 'self'/,
      );
      expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      const html = await page.text();
      expect(html).not.toMatch(/<script>|<style>|style=/);
      // The script is an asset of the balancer's own (dashboard-assets.ts); it polls /_lb/status.
      const src = /<script src="(\/_lb\/assets\/dashboard\.[0-9a-f]{8}\.js)"/.exec(html)?.[1];
      expect(src).toBeDefined();
      const script = await worker.fetch(src!);
      expect(script.headers.get("cache-control")).toContain("immutable");
      expect(await script.text()).toContain('fetch("/_lb/status")');
      expect(html).toContain('action="/_lb/logout"');
      expect(html).toContain("Sign out");
    }
    expect((await worker.fetch("/_lb/assets/dashboard.00000000.js")).status).toBe(404);
    expect((await worker.fetch("/_lb", { redirect: "manual" })).status).toBe(302);
    expect((await worker.fetch("/_lb/status", { headers: session })).status).toBe(200);
    expect((await worker.fetch("/_lb/status", { headers: { cookie: "edge_lb_admin=wrong" } })).status).toBe(401);
    // The token itself is not a session.
    expect((await worker.fetch("/_lb/status", { headers: { cookie: `edge_lb_admin=${ADMIN_TOKEN}` } })).status).toBe(
      401,
    );
  });

  it("a signed-in browser changes state only from its own origin; a bearer token needs no Origin", async () => {
    const session = await signIn("198.51.100.10");
    const foreigns: Array<Record<string, string>> = [
      { origin: "https://evil.example" },
      { origin: "http://balancer.test.evil.example" },
      { origin: "null" },
      { "sec-fetch-site": "cross-site" },
      {},
    ];
    for (const foreign of foreigns) {
      const refused = await act("disable", { ...session, ...foreign });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ error: "forbidden" });
      expect(await adminState()).toBe("enabled");
    }

    const allowed = await act("disable", { ...session, origin: SAME_ORIGIN });
    expect(allowed.status).toBe(200);
    expect(await adminState()).toBe("disabled");
    // The scheme is not compared: a TLS terminator in front turns the browser's https into our http.
    expect((await act("drain", { ...session, origin: "https://balancer.test" })).status).toBe(200);
    expect(await adminState()).toBe("drained");
    expect((await act("enable", { ...session, "sec-fetch-site": "same-origin" })).status).toBe(200);
    expect(await adminState()).toBe("enabled");

    expect((await act("disable", bearer)).status).toBe(200);
    expect(await adminState()).toBe("disabled");
    expect((await act("enable", { ...bearer, origin: "https://evil.example" })).status).toBe(200);
    expect(await adminState()).toBe("enabled");
    // A wrong bearer token is not rescued by a valid cookie.
    expect(
      (await act("disable", { ...session, origin: SAME_ORIGIN, authorization: "Bearer wrong-token-0123456789" }))
        .status,
    ).toBe(401);
    expect(await adminState()).toBe("enabled");
  });

  it("sign-in and sign-out refuse a foreign origin (login CSRF)", async () => {
    for (const headers of [{ origin: "https://evil.example" }, {}] as Array<Record<string, string>>) {
      const response = await login(ADMIN_TOKEN, "198.51.100.20", headers);
      expect(response.status).toBe(403);
      expect(response.headers.getSetCookie()).toEqual([]);
    }
    const logout = await worker.fetch("/_lb/logout", {
      method: "POST",
      headers: { origin: "https://evil.example" },
      redirect: "manual",
    });
    expect(logout.status).toBe(403);
    expect(logout.headers.getSetCookie()).toEqual([]);
  });

  it("refuses altered, expired and foreign sessions; accepts one signed elsewhere with the same token", async () => {
    const { cookie } = await signIn("198.51.100.30");
    const value = cookie.slice("edge_lb_admin=".length);
    const at = value.length - 10;
    const altered = value.slice(0, at) + (value[at] === "A" ? "B" : "A") + value.slice(at + 1);
    const expired = await signSession(ADMIN_TOKEN, now() - 10);
    const foreign = await signSession("some-other-admin-token-0000", now() + 3600);
    for (const bad of [altered, expired, foreign, value.replace(/^v1\.\d+/, `v1.${now() + 3600}`)]) {
      const headers = { cookie: `edge_lb_admin=${bad}` };
      expect((await worker.fetch("/_lb/status", { headers })).status).toBe(401);
      const page = await worker.fetch("/_lb/", { headers, redirect: "manual" });
      expect(page.status).toBe(302);
      expect(page.headers.get("location")).toBe("/_lb/login");
      expect((await act("disable", { ...headers, origin: SAME_ORIGIN })).status).toBe(401);
    }
    expect(await adminState()).toBe("enabled");
    // Signed here in Node, verified in workerd: instances sharing the token share sessions, no store.
    const elsewhere = await signSession(ADMIN_TOKEN, now() + 3600);
    expect((await worker.fetch("/_lb/status", { headers: { cookie: `edge_lb_admin=${elsewhere}` } })).status).toBe(200);
  });

  it("sign-out clears the cookie with the same attributes and sends the browser to sign-in", async () => {
    const session = await signIn("198.51.100.40");
    const logout = await worker.fetch("/_lb/logout", {
      method: "POST",
      headers: { ...session, origin: SAME_ORIGIN },
      redirect: "manual",
    });
    expect(logout.status).toBe(303);
    expect(logout.headers.get("location")).toBe("/_lb/login");
    const cleared = logout.headers.getSetCookie()[0]!;
    expect(cleared).toMatch(/^edge_lb_admin=;/);
    expect(cleared).toMatch(/Max-Age=0/);
    expect(cleared).toMatch(/Path=\/_lb/);
    expect(cleared).toMatch(/HttpOnly/);
    expect(cleared).toMatch(/SameSite=Strict/);
    expect(cleared).toMatch(/; Secure/);
  });

  it("backs off failed sign-ins per address: 429 with Retry-After until the window passes", async () => {
    const address = "198.51.100.50";
    expect((await login("not-the-token-0000000", address)).status).toBe(401);
    const blocked = await login(ADMIN_TOKEN, address);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("retry-after")).toBe("1");
    expect(blocked.headers.getSetCookie()).toEqual([]);
    expect(await blocked.json()).toMatchObject({ error: "too_many_attempts" });
    // Another address is not held back by this one's failures.
    expect((await login(ADMIN_TOKEN, "198.51.100.51")).status).toBe(303);

    // Poll until the 1 s window ends; the right token then signs in and clears the address.
    let response = blocked;
    const deadline = Date.now() + 5_000;
    while (response.status === 429 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      response = await login(ADMIN_TOKEN, address);
    }
    expect(response.status).toBe(303);
    expect((await login("not-the-token-0000000", address)).status).toBe(401);
    expect((await login(ADMIN_TOKEN, address)).headers.get("retry-after")).toBe("1");
  });

  // miniflare forwards both bodies to workerd chunked, so both take the counting path here; the
  // declared-length path (refused before reading) is covered on Node in admin-hostile.test.ts.
  it("refuses sign-in bodies over 4 KiB, declared or streamed, with 413 JSON", async () => {
    const big = `token=${"x".repeat(5_000)}`;
    const declared = await worker.fetch("/_lb/login", {
      method: "POST",
      body: big,
      headers: { origin: SAME_ORIGIN, "content-type": "application/x-www-form-urlencoded" },
      clientIp: "198.51.100.60",
    });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toMatchObject({ error: "payload_too_large" });

    const chunk = new TextEncoder().encode("x".repeat(1_024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 8) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const streamed = await worker.fetch("/_lb/login", {
      method: "POST",
      body: stream,
      duplex: "half",
      headers: { origin: SAME_ORIGIN },
      clientIp: "198.51.100.61",
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await streamed.json()).toMatchObject({ error: "payload_too_large" });
    // Neither counted as a failed attempt.
    expect((await login(ADMIN_TOKEN, "198.51.100.60")).status).toBe(303);
    expect((await login(ADMIN_TOKEN, "198.51.100.61")).status).toBe(303);
  });
});

describe("the session cookie with ADMIN_SESSION_TTL_S and ADMIN_COOKIE_SECURE=false", () => {
  let worker: WorkerInstance;
  beforeAll(async () => {
    worker = await startWorker({
      BACKENDS: "http://127.0.0.1:9",
      ADMIN_TOKEN,
      ADMIN_SESSION_TTL_S: "60",
      ADMIN_COOKIE_SECURE: "false",
    });
  });
  afterAll(async () => {
    await worker?.dispose();
  });

  it("lives for the configured TTL and is not Secure (plain-HTTP development)", async () => {
    const response = await worker.fetch("/_lb/login", {
      method: "POST",
      body: new URLSearchParams({ token: ADMIN_TOKEN }),
      headers: { origin: "http://balancer.test" },
      redirect: "manual",
    });
    expect(response.status).toBe(303);
    const cookie = response.headers.getSetCookie()[0]!;
    expect(cookie).toMatch(/Max-Age=60(;|$)/);
    expect(cookie).not.toMatch(/Secure/);
    expect(Number(cookie.split(".")[1]) - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(60);
    // A session from a longer-lived configuration is refused here: the TTL bounds every session.
    const long = await signSession(ADMIN_TOKEN, Math.floor(Date.now() / 1000) + 3_600);
    expect((await worker.fetch("/_lb/status", { headers: { cookie: `edge_lb_admin=${long}` } })).status).toBe(401);
    expect((await worker.fetch("/_lb/status", { headers: { cookie: cookie.split(";")[0]! } })).status).toBe(200);
  });
});

describe("the admin API without ADMIN_TOKEN", () => {
  let worker: WorkerInstance;
  beforeAll(async () => {
    worker = await startWorker({ BACKENDS: "http://127.0.0.1:9" });
  });
  afterAll(async () => {
    await worker?.dispose();
  });

  it("does not exist (404), except /_lb/healthz", async () => {
    expect((await worker.fetch("/_lb/status", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(
      404,
    );
    expect((await worker.fetch("/_lb/backends/x/drain", { method: "POST" })).status).toBe(404);
    expect((await worker.fetch("/_lb/healthz")).status).toBe(200);
    expect((await worker.fetch("/_lb/login")).status).toBe(404);
    expect(
      (
        await worker.fetch("/_lb/login", {
          method: "POST",
          body: new URLSearchParams({ token: ADMIN_TOKEN }),
          headers: { origin: "http://balancer.test" },
        })
      ).status,
    ).toBe(404);
    expect(
      (await worker.fetch("/_lb/logout", { method: "POST", headers: { origin: "http://balancer.test" } })).status,
    ).toBe(404);
    expect((await worker.fetch("/_lb/")).status).toBe(404);
    expect((await worker.fetch("/_lb")).status).toBe(404);
  });
});
