import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
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
    expect((await act(nameOf(upstreams[0]!), "drain", { authorization: "Bearer wrong-token-0123456789" })).status).toBe(401);
    const unknown = await worker.fetch("/_lb/nothing-here", { headers: auth });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("x-upstream")).toBeNull();
  });

  it("drains a backend: it takes no new requests; enable brings it back", async () => {
    const b = upstreams[1]!;
    const drained = await act(nameOf(b), "drain");
    expect(drained.status).toBe(200);
    expect(await drained.json()).toEqual({ backend: nameOf(b), admin: "drained" });
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

  const metric = (text: string, line: RegExp) => Number(text.split("\n").find((l) => line.test(l))?.split(" ").at(-1) ?? NaN);

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
    expect(metric(text, new RegExp(`^edge_lb_attempt_failures_total\\{pool="default",backend="${nameB}",kind="status"\\}`))).toBe(10);
    expect(metric(text, /^edge_lb_retries_total\{pool="default"\}/)).toBe(10);
    expect(metric(text, new RegExp(`^edge_lb_backend_healthy\\{pool="default",backend="${nameA}"\\}`))).toBe(1);
    expect(metric(text, /^edge_lb_store_degraded\{pool="default",store="memory"\}/)).toBe(0);
    b.mode = { kind: "ok" };
  });

  it("needs the token", async () => {
    expect((await worker.fetch("/_lb/metrics")).status).toBe(401);
  });
});

describe("the dashboard", () => {
  let worker: WorkerInstance;
  beforeAll(async () => {
    worker = await startWorker({ BACKENDS: "http://127.0.0.1:9", ADMIN_TOKEN });
  });
  afterAll(async () => {
    await worker?.dispose();
  });

  const login = (token: string) =>
    worker.fetch("/_lb/login", { method: "POST", body: new URLSearchParams({ token }), redirect: "manual" });

  it("needs a sign-in; the right token sets a strict, HttpOnly cookie the admin routes accept", async () => {
    expect((await worker.fetch("/_lb/")).status).toBe(401);
    const form = await worker.fetch("/_lb/login");
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('name="token"');

    expect((await login("not-the-token-0000000")).status).toBe(401);
    const signedIn = await login(ADMIN_TOKEN);
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get("location")).toBe("/_lb/");
    const cookie = signedIn.headers.getSetCookie()[0]!;
    expect(cookie).toMatch(/^edge_lb_admin=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/_lb/);

    const session = { cookie: cookie.split(";")[0]! };
    const page = await worker.fetch("/_lb/", { headers: session });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("fetch(\"/_lb/status\")");
    expect((await worker.fetch("/_lb/status", { headers: session })).status).toBe(200);
    expect((await worker.fetch("/_lb/status", { headers: { cookie: "edge_lb_admin=wrong" } })).status).toBe(401);
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
    expect((await worker.fetch("/_lb/status", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(404);
    expect((await worker.fetch("/_lb/backends/x/drain", { method: "POST" })).status).toBe(404);
    expect((await worker.fetch("/_lb/healthz")).status).toBe(200);
    expect((await worker.fetch("/_lb/login")).status).toBe(404);
    expect((await worker.fetch("/_lb/")).status).toBe(404);
  });
});
