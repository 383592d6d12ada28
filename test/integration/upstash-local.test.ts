// @upstash/redis 1.39.0 against scripts/upstash-local.ts in front of a real redis-server.
// Every request the server answers is recorded through its onRequest hook, so the tests can
// check not only results but what went over the wire (path, encoding header, commands).
import { createHash } from "node:crypto";
import { connect as netConnect } from "node:net";
import { Redis, type RedisConfigNodejs } from "@upstash/redis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { UpstashRequestEvent } from "../../scripts/upstash-local.ts";
import { describeWithRedis, startUpstashStack, type UpstashStack } from "../support/redis.ts";

describeWithRedis("upstash-local (Upstash REST protocol over a real redis-server)", () => {
  let stack: UpstashStack;
  const events: UpstashRequestEvent[] = [];
  let keySeq = 0;
  /** A key no other test uses. */
  const key = (name: string): string => `t${++keySeq}:${name}`;

  beforeAll(async () => {
    stack = await startUpstashStack({ onRequest: (event) => events.push(event) });
  });
  afterAll(async () => {
    await stack?.stop();
  });
  beforeEach(() => {
    events.length = 0;
  });

  function client(options: Partial<RedisConfigNodejs> = {}): Redis {
    return new Redis({
      url: stack.upstash.url,
      token: stack.upstash.token,
      enableTelemetry: false,
      enableAutoPipelining: false,
      retry: false,
      ...options,
    });
  }

  /** One raw HTTP request, for checks below the client. */
  async function raw(
    path: string,
    body: unknown,
    opts: { token?: string | null; base64?: boolean; rawBody?: string; method?: string } = {},
    // biome-ignore lint/suspicious/noExplicitAny: the checks read arbitrary protocol JSON, field by field.
  ): Promise<{ status: number; text: string; json: any }> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    const token = opts.token === undefined ? stack.upstash.token : opts.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (opts.base64) headers["upstash-encoding"] = "base64";
    const res = await fetch(`${stack.upstash.url}${path}`, {
      method: opts.method ?? "POST",
      headers,
      body: opts.rawBody ?? JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json };
  }

  const commandNames = (event: UpstashRequestEvent | undefined): string[] =>
    (event?.commands ?? []).map((c) => c[0]!.toLowerCase());

  describe.each([
    { mode: "base64 responses (client default)", responseEncoding: undefined, base64: true },
    { mode: "plain JSON responses (responseEncoding: false)", responseEncoding: false as const, base64: false },
  ])("$mode", ({ responseEncoding, base64 }) => {
    const redis = (): Redis => client(responseEncoding === undefined ? {} : { responseEncoding });

    it("sends the encoding header as configured, POSTs to / and sends a sync token", async () => {
      const r = redis();
      await r.set(key("hdr"), "v");
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ method: "POST", path: "/", status: 200, base64 });
      expect(events[0]!.headers.authorization).toBe(`Bearer ${stack.upstash.token}`);
      // readYourWrites is on by default: the header goes out (empty until a server sets one).
      expect(events[0]!.headers["upstash-sync-token"]).toBe("");
    });

    it("get/set round-trips unicode, number-like and JSON values", async () => {
      const r = redis();
      const k = key("str");
      expect(await r.set(k, "héllo wörld ✓ 🚀")).toBe("OK");
      expect(await r.get(k)).toBe("héllo wörld ✓ 🚀");
      await r.set(k, "007");
      expect(await r.get(k)).toBe("007");
      await r.set(k, 42);
      expect(await r.get(k)).toBe(42);
      await r.set(k, { a: 1, b: ["x", null] });
      expect(await r.get(k)).toEqual({ a: 1, b: ["x", null] });
      expect(await r.get(key("missing"))).toBeNull();
    });

    it("set with ex / px / nx / xx options", async () => {
      const r = redis();
      const k = key("opts");
      expect(await r.set(k, "first", { nx: true, ex: 100 })).toBe("OK");
      expect(await r.set(k, "second", { nx: true })).toBeNull();
      expect(await r.get(k)).toBe("first");
      const ttl = await r.ttl(k);
      expect(ttl).toBeGreaterThan(90);
      expect(ttl).toBeLessThanOrEqual(100);
      expect(await r.set(k, "third", { xx: true, px: 5_000 })).toBe("OK");
      expect(await r.pttl(k)).toBeLessThanOrEqual(5_000);
      expect(await r.set(key("absent"), "x", { xx: true })).toBeNull();
      // Options go out as separate arguments; numbers as JSON numbers, sent on as strings.
      expect(events.find((e) => commandNames(e)[0] === "set")?.commands?.[0]).toEqual([
        "set",
        k,
        "first",
        "nx",
        "ex",
        "100",
      ]);
    });

    it("incr, incrby, hincrby, hgetall and expire", async () => {
      const r = redis();
      const counter = key("counter");
      expect(await r.incr(counter)).toBe(1);
      expect(await r.incrby(counter, 41)).toBe(42);
      expect(await r.incrby(counter, -2)).toBe(40);
      const hash = key("hash");
      expect(await r.hincrby(hash, "hits", 3)).toBe(3);
      expect(await r.hincrby(hash, "hits", 2)).toBe(5);
      await r.hset(hash, { name: "backend-a", weight: "7" });
      expect(await r.hgetall(hash)).toEqual({ hits: 5, name: "backend-a", weight: 7 });
      expect(await r.hgetall(key("nohash"))).toBeNull();
      expect(await r.expire(hash, 60)).toBe(1);
      expect(await r.ttl(hash)).toBeGreaterThan(50);
      expect(await r.expire(key("nokey"), 60)).toBe(0);
      await expect(r.incr(hash)).rejects.toThrow(/WRONGTYPE/);
    });

    it("eval returns nested arrays of strings and integers", async () => {
      const r = redis();
      const k = key("eval");
      const result = await r.eval(
        "redis.call('SET', KEYS[1], ARGV[1]); return {KEYS[1], redis.call('GET', KEYS[1]), 42, {ARGV[2], 7}}",
        [k],
        ["välue", "inner"],
      );
      expect(result).toEqual([k, "välue", 42, ["inner", 7]]);
      await expect(r.eval("return redis.error_reply('BOOM from lua')", [], [])).rejects.toThrow(/BOOM from lua/);
    });

    it("evalsha: scriptLoad + evalsha, createScript's NOSCRIPT fallback, and a raw NOSCRIPT", async () => {
      const r = redis();
      const src = `return redis.call('INCRBY', KEYS[1], ARGV[1]) -- ${key("script")}`;
      const sha = createHash("sha1").update(src).digest("hex");

      // Not loaded yet: a plain evalsha fails with the NOSCRIPT text the client looks for.
      await expect(r.evalsha(sha, [key("x")], [1])).rejects.toThrow(/NOSCRIPT/);

      // createScript().exec tries evalsha, sees NOSCRIPT, falls back to eval.
      const k = key("scripted");
      const script = r.createScript<number>(src);
      events.length = 0;
      expect(await script.exec([k], ["5"])).toBe(5);
      expect(events.map((e) => commandNames(e)[0])).toEqual(["evalsha", "eval"]);
      expect(events.map((e) => e.status)).toEqual([400, 200]);

      // eval cached the script: the next exec needs one evalsha only.
      events.length = 0;
      expect(await script.exec([k], ["2"])).toBe(7);
      expect(events.map((e) => commandNames(e)[0])).toEqual(["evalsha"]);

      // scriptLoad returns the same sha; evalsha with it works.
      const other = `return ARGV[1] .. '!' -- ${key("loaded")}`;
      const loadedSha = await r.scriptLoad(other);
      expect(loadedSha).toBe(createHash("sha1").update(other).digest("hex"));
      expect(await r.evalsha(loadedSha, [], ["hey"])).toBe("hey!");
    });

    it("pipeline: in order, one /pipeline request, per-command errors", async () => {
      const r = redis();
      const k = key("pipe");
      const str = key("pipestr");
      const p = r.pipeline();
      p.set(str, "text").incr(k).incrby(k, 10).get(k).hincrby(str, "f", 1).get(str);
      const out = await p.exec({ keepErrors: true });
      expect(events.map((e) => e.path)).toEqual(["/pipeline"]);
      expect(commandNames(events[0])).toEqual(["set", "incr", "incrby", "get", "hincrby", "get"]);
      expect(out.map((o) => o.result)).toEqual(["OK", 1, 11, 11, undefined, "text"]);
      expect(out[4]!.error).toMatch(/^WRONGTYPE/);
      expect(out.filter((o) => o.error !== undefined)).toHaveLength(1);

      const failing = r.pipeline();
      failing.incr(k).hincrby(str, "f", 1);
      await expect(failing.exec()).rejects.toThrow(/Command 2 \[ hincrby \] failed: WRONGTYPE/);
      expect(await r.get(k)).toBe(12); // the command before the failing one still ran

      // 500 commands stay in order.
      const long = r.pipeline();
      const many = key("many");
      for (let i = 0; i < 500; i++) long.incr(many);
      const results = await long.exec<number[]>();
      expect(results).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    });

    it("multi-exec: atomic transaction with per-command runtime errors", async () => {
      const r = redis();
      const k = key("tx");
      const str = key("txstr");
      await r.set(str, "text");
      const tx = r.multi();
      tx.incr(k).hincrby(str, "f", 1).incrby(k, 5).get(k);
      const out = await tx.exec({ keepErrors: true });
      expect(events.at(-1)?.path).toBe("/multi-exec");
      expect(out.map((o) => o.result)).toEqual([1, undefined, 6, 6]);
      expect(out[1]!.error).toMatch(/^WRONGTYPE/);

      const ok = await r.multi().set(k, "v").get(k).exec();
      expect(ok).toEqual(["OK", "v"]);
    });
  });

  describe("auto-pipelining", () => {
    it("is on by default in 1.39.0: a single command arrives at /pipeline", async () => {
      const r = new Redis({ url: stack.upstash.url, token: stack.upstash.token, enableTelemetry: false });
      const k = key("default");
      expect(await r.incr(k)).toBe(1);
      expect(events.map((e) => e.path)).toEqual(["/pipeline"]);
      expect(events[0]!.commands).toEqual([["incr", k]]);
      expect(events[0]!.base64).toBe(true);
      // Some commands (hgetall, keys, scan, lrange, smembers, zrange, ...) bypass it.
      events.length = 0;
      expect(await r.hgetall(key("nohash"))).toBeNull();
      expect(events.map((e) => e.path)).toEqual(["/"]);
    });

    it("batches concurrent commands into /pipeline requests (reads and writes separately)", async () => {
      const r = client({ enableAutoPipelining: true });
      const counter = key("auto");
      const readKey = key("autoread");
      const written = key("autowritten");
      const hash = key("autohash");
      await client().set(readKey, "present");
      const before = { ...stack.upstash.stats.requests };
      events.length = 0;
      // The read batch and the write batch are separate requests that may run in either
      // order, so the reads here only look at a key the writes do not touch.
      const results = await Promise.all([
        r.incr(counter),
        r.incr(counter),
        r.get(readKey),
        r.set(written, "later"),
        r.hincrby(hash, "n", 4),
        r.exists(readKey),
      ]);
      expect(results).toEqual([1, 2, "present", "OK", 4, 1]);
      const delta = (path: string): number => (stack.upstash.stats.requests[path] ?? 0) - (before[path] ?? 0);
      expect(delta("/")).toBe(0);
      expect(delta("/pipeline")).toBe(2);
      const batches = events.map((e) => commandNames(e).sort().join(","));
      expect(batches.sort()).toEqual(["exists,get", "hincrby,incr,incr,set"]);
      // The counter on the proxied client agrees.
      expect((r as unknown as { pipelineCounter: number }).pipelineCounter).toBe(2);
    });

    it("rejects only the failing command of a batch, and scripts still fall back on NOSCRIPT", async () => {
      const r = client({ enableAutoPipelining: true });
      const str = key("autostr");
      await r.set(str, "x");
      const [bad, good] = await Promise.allSettled([r.hincrby(str, "f", 1), r.incr(key("autook"))]);
      expect(bad.status).toBe("rejected");
      expect(String((bad as PromiseRejectedResult).reason)).toMatch(/Command failed: WRONGTYPE/);
      expect(good).toEqual({ status: "fulfilled", value: 1 });

      const script = r.createScript<string>(`return 'auto:' .. ARGV[1] -- ${key("autoscript")}`);
      events.length = 0;
      expect(await script.exec([], ["ok"])).toBe("auto:ok");
      expect(events.map((e) => [e.path, commandNames(e)[0]])).toEqual([
        ["/pipeline", "evalsha"],
        ["/pipeline", "eval"],
      ]);
    });
  });

  describe("protocol details", () => {
    it("base64 encodes every string recursively except a top-level OK; numbers and null stay", async () => {
      const k = key("b64");
      expect((await raw("/", ["set", k, "héllo"], { base64: true })).json).toEqual({ result: "OK" });
      expect((await raw("/", ["get", k], { base64: true })).json).toEqual({
        result: Buffer.from("héllo").toString("base64"),
      });
      expect((await raw("/", ["get", k])).json).toEqual({ result: "héllo" });
      const nested = await raw("/", ["eval", "return {'a', 1, {'OK', redis.status_reply('OK')}, false}", 0], {
        base64: true,
      });
      expect(nested.json).toEqual({ result: ["YQ==", 1, ["T0s=", "T0s="], null] });
      const pipe = await raw("/pipeline", [["ping"], ["set", k, "v"], ["strlen", k]], { base64: true });
      expect(pipe.json).toEqual([{ result: "UE9ORw==" }, { result: "OK" }, { result: 1 }]);
    });

    it("is binary safe: raw bytes come back exactly in base64, as U+FFFD in plain JSON", async () => {
      const k = key("bin");
      const set = await raw("/", [
        "eval",
        "redis.call('SET', KEYS[1], string.char(0, 255, 128, 10, 104, 105)) return 1",
        1,
        k,
      ]);
      expect(set.json).toEqual({ result: 1 });
      const b64 = await raw("/", ["get", k], { base64: true });
      expect(Buffer.from(b64.json.result, "base64")).toEqual(Buffer.from([0, 255, 128, 10, 104, 105]));
      const plain = await raw("/", ["get", k]);
      expect(plain.json).toEqual({ result: "\u0000\ufffd\ufffd\nhi" });
    });

    it("accepts numbers and booleans as arguments and keeps 64-bit integers exact", async () => {
      const k = key("num");
      expect((await raw("/", ["set", k, 12.5])).json).toEqual({ result: "OK" });
      expect((await raw("/", ["incrbyfloat", k, 1])).json).toEqual({ result: "13.5" });
      expect((await raw("/", ["set", k, true])).json).toEqual({ result: "OK" });
      expect((await raw("/", ["get", k])).json).toEqual({ result: "true" });
      const big = key("big");
      const res = await raw("/", ["incrby", big, "9007199254740993"]);
      expect(res.text).toBe('{"result":9007199254740993}');
    });

    it("carries multi-megabyte values intact in both encodings", async () => {
      const r = client();
      const k = key("large");
      const value = "ab✓".repeat(1_000_000); // 5 MB of UTF-8
      expect(await r.set(k, value)).toBe("OK");
      expect(await r.get(k)).toBe(value);
      expect(await client({ responseEncoding: false }).get(k)).toBe(value);
      expect(await r.strlen(k)).toBe(5_000_000);
    });

    it("a Redis error on / is HTTP 400 with the error text; NOSCRIPT passes through", async () => {
      const res = await raw("/", ["evalsha", "0".repeat(40), 0]);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: "NOSCRIPT No matching script. Please use EVAL." });
      const unknown = await raw("/", ["definitelynotacommand", "x"]);
      expect(unknown.status).toBe(400);
      expect(unknown.json.error).toMatch(/^ERR unknown command/);
    });

    it("multi-exec discarded as a whole answers one 400 error and applies nothing", async () => {
      const k = key("discard");
      const res = await raw("/multi-exec", [["incr", k], ["notacommand"], ["incr", k]]);
      expect(res.status).toBe(400);
      expect(res.json.error).toMatch(/^ERR unknown command 'notacommand'/);
      expect((await raw("/", ["get", k])).json).toEqual({ result: null });
      // The same commands as a plain pipeline do run around the failing one.
      const pipe = await raw("/pipeline", [["incr", k], ["notacommand"], ["incr", k]]);
      expect(pipe.json).toMatchObject([{ result: 1 }, { error: expect.stringMatching(/^ERR unknown/) }, { result: 2 }]);
    });

    it("multi-exec really goes through MULTI/EXEC in redis", async () => {
      await raw("/", ["config", "resetstat"]);
      const k = key("stats");
      const res = await raw("/multi-exec", [
        ["incr", k],
        ["incr", k],
      ]);
      expect(res.json).toEqual([{ result: 1 }, { result: 2 }]);
      const info = (await raw("/", ["info", "commandstats"])).json.result as string;
      expect(info).toMatch(/cmdstat_multi:calls=1,/);
      expect(info).toMatch(/cmdstat_exec:calls=1,/);
      const nested = await raw("/multi-exec", [["incr", k], ["exec"]]);
      expect(nested.status).toBe(400);
      expect((await raw("/", ["get", k])).json).toEqual({ result: "2" });
    });

    it("concurrent transactions never interleave", async () => {
      const k = key("interleave");
      const txs = Array.from({ length: 20 }, () =>
        raw("/multi-exec", [
          ["incr", k],
          ["incr", k],
          ["incr", k],
        ]),
      );
      const results = (await Promise.all(txs)).map((res) => (res.json as { result: number }[]).map((e) => e.result));
      for (const [a, b, c] of results) {
        expect([b! - a!, c! - b!]).toEqual([1, 1]);
      }
      expect(results.map((r) => r[2]).sort((x, y) => x! - y!)).toEqual(
        Array.from({ length: 20 }, (_, i) => (i + 1) * 3),
      );
    });

    it("refuses commands that would hijack a shared connection", async () => {
      const sub = await raw("/", ["subscribe", "chan"]);
      expect(sub.status).toBe(400);
      expect(sub.json.error).toMatch(/not supported/);
      const pipe = await raw("/pipeline", [["monitor"], ["ping"]]);
      expect(pipe.json).toEqual([{ error: expect.stringMatching(/not supported/) }, { result: "PONG" }]);
      // WATCH/SELECT are allowed but their connection is not reused: db 0 still answers.
      const k = key("select");
      await raw("/", ["set", k, "db0"]);
      expect(
        (
          await raw("/pipeline", [
            ["select", 1],
            ["get", k],
          ])
        ).json,
      ).toEqual([{ result: "OK" }, { result: null }]);
      for (let i = 0; i < 5; i++) expect((await raw("/", ["get", k])).json).toEqual({ result: "db0" });
    });
  });

  describe("authentication and robustness", () => {
    it("a wrong or missing token gets 401 JSON, also through the client", async () => {
      const wrong = await raw("/", ["get", "k"], { token: "nope" });
      expect(wrong.status).toBe(401);
      expect(wrong.json.error).toMatch(/Unauthorized/);
      const missing = await raw("/pipeline", [["get", "k"]], { token: null });
      expect(missing.status).toBe(401);
      expect(missing.json).toHaveProperty("error");
      await expect(client({ token: "wrong-token" }).get("k")).rejects.toThrow(/Unauthorized/);
      const viaQuery = await fetch(`${stack.upstash.url}/?_token=${encodeURIComponent(stack.upstash.token)}`, {
        method: "POST",
        body: JSON.stringify(["ping"]),
      });
      expect(await viaQuery.json()).toEqual({ result: "PONG" });
    });

    it("malformed bodies get 400 JSON and the server keeps serving", async () => {
      const cases: { path: string; rawBody: string }[] = [
        { path: "/", rawBody: '["get",' },
        { path: "/", rawBody: "" },
        { path: "/", rawBody: '{"cmd":"get"}' },
        { path: "/", rawBody: "[]" },
        { path: "/", rawBody: '[42, "x"]' },
        { path: "/", rawBody: '["get", {"a":1}]' },
        { path: "/", rawBody: '["get", null]' },
        { path: "/pipeline", rawBody: '["get","k"]' },
        { path: "/pipeline", rawBody: "[]" },
        { path: "/multi-exec", rawBody: '[["incr","k"], "oops"]' },
      ];
      for (const { path, rawBody } of cases) {
        const res = await raw(path, undefined, { rawBody });
        expect(res.status, `${path} ${rawBody}`).toBe(400);
        expect(typeof res.json?.error, `${path} ${rawBody}`).toBe("string");
      }
      expect((await raw("/nope", ["ping"])).status).toBe(404);
      expect((await raw("/", undefined, { method: "PUT", rawBody: '["ping"]' })).status).toBe(405);

      // A client that sends half a request and hangs up.
      await new Promise<void>((resolve, reject) => {
        const url = new URL(stack.upstash.url);
        const socket = netConnect({ host: url.hostname, port: Number(url.port) }, () => {
          socket.write(
            `POST / HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${stack.upstash.token}\r\n` +
              'content-length: 1000\r\n\r\n["incr",',
          );
          socket.destroy();
        });
        socket.once("close", () => resolve());
        socket.once("error", reject);
      });
      // Garbage that is not HTTP at all.
      const garbage = await new Promise<string>((resolve, reject) => {
        const url = new URL(stack.upstash.url);
        let got = "";
        const socket = netConnect({ host: url.hostname, port: Number(url.port) }, () =>
          socket.write("\x00\x01 not http\r\n\r\n"),
        );
        socket.on("data", (d: Buffer) => (got += d.toString()));
        socket.once("close", () => resolve(got));
        socket.once("error", reject);
      });
      expect(garbage).toMatch(/^HTTP\/1\.1 400/);

      const r = client();
      const k = key("alive");
      expect(await r.incr(k)).toBe(1);
    });

    it("answers 503 while redis is down and recovers when it is back on the same port", async () => {
      const r = client();
      const k = key("outage");
      expect(await r.incr(k)).toBe(1);
      await stack.redis.stop();
      const down = await raw("/", ["incr", k]);
      expect(down.status).toBe(503);
      expect(down.json.error).toMatch(/redis unavailable/);
      await expect(r.incr(k)).rejects.toThrow(/redis unavailable/);
      await stack.redis.restart();
      // A fresh, empty redis-server: the key starts over.
      expect(await r.incr(k)).toBe(1);
      expect(stack.redis.running).toBe(true);
    });
  });

  describe("a hung redis-server", () => {
    let slow: UpstashStack;
    beforeAll(async () => {
      slow = await startUpstashStack({ commandTimeoutMs: 300 });
    });
    afterAll(async () => {
      await slow?.stop();
    });

    it("answers 503 after commandTimeoutMs while redis is paused, and serves again on resume", async () => {
      const r = new Redis({
        url: slow.upstash.url,
        token: slow.upstash.token,
        enableAutoPipelining: false,
        enableTelemetry: false,
        retry: false,
      });
      expect(await r.incr("hung")).toBe(1);
      slow.redis.pause();
      try {
        const started = Date.now();
        await expect(r.incr("hung")).rejects.toThrow(/did not answer within 300 ms/);
        expect(Date.now() - started).toBeLessThan(5_000);
      } finally {
        slow.redis.resume();
      }
      // The timed-out INCR was written before the pause took effect or queued in the socket:
      // either way redis runs it once resumed, so the next value is 2 or 3, never an error.
      expect([2, 3]).toContain(await r.incr("hung"));
    });
  });
});
