// Load generators: wrk (Debian's package) when installed, otherwise a bounded keep-alive load
// generator on node:http. Both keep a fixed number of connections busy (closed loop) against a
// 127.0.0.1 URL, for a bounded time or a bounded number of requests, and report req/s and the
// 50th and 99th latency percentiles. With a session spec every request carries a session header
// whose value is drawn at random from a fixed set (the header-affinity rows).

import { writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { runCommand } from "./processes.ts";

export interface LoadResult {
  /** Completed requests (2xx/3xx and errors alike). */
  readonly requests: number;
  /** Non-2xx/3xx answers plus socket errors and timeouts. */
  readonly errors: number;
  readonly durationS: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface LoadSpec {
  readonly connections: number;
  /** Seconds of load (wrk: whole seconds). */
  readonly durationS?: number;
  /** Stop after this many requests (Node generator only). */
  readonly requests?: number;
  /** Each request carries `header: s<n>`, n drawn uniformly at random from 1..count. */
  readonly session?: SessionLoad;
}

export interface SessionLoad {
  readonly header: string;
  readonly count: number;
  /** Node generator: sessions in turn (s1, s2, ...) instead of at random, so `count` requests send each once. */
  readonly inTurn?: boolean;
}

export interface LoadGenerator {
  /** e.g. "wrk 4.1.0" or "node:http keep-alive load generator (Node v20.x)". */
  readonly name: string;
  run(url: string, spec: LoadSpec): Promise<LoadResult>;
}

function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "[::1]") {
    throw new Error(`bench load goes to loopback addresses only, not ${host}`);
  }
}

// ---------------------------------------------------------------------------------------------
// wrk

const WRK_SCRIPT = `-- Written by scripts/bench/load.ts: one JSON line with the figures the bench needs.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50_us":%.1f,"p99_us":%.1f}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50.0), latency:percentile(99.0)))
end
`;

/** wrk calls request() for every request when the script defines it: a fresh session each time. */
function wrkSessionScript(session: SessionLoad): string {
  if (!/^[A-Za-z0-9-]+$/.test(session.header) || !Number.isSafeInteger(session.count) || session.count < 1) {
    throw new Error(`bad session load: ${JSON.stringify(session)}`);
  }
  return `${WRK_SCRIPT}
init = function(args)
  math.randomseed(os.time())
end

request = function()
  wrk.headers["${session.header}"] = "s" .. math.random(${session.count})
  return wrk.format()
end
`;
}

/** wrk when it is on PATH (its version string), else undefined. */
export async function wrkVersion(): Promise<string | undefined> {
  const result = await runCommand("wrk", ["-v"], 5_000);
  // Not installed: the spawn error ("spawn wrk ENOENT") must not read as a version.
  if (result.code === null) return undefined;
  const match = /wrk\s+(\S+)/.exec(result.stdout + result.stderr);
  return match ? match[1]!.replace(/^debian\//, "") : undefined;
}

export function wrkGenerator(version: string, workDir: string): LoadGenerator {
  const plain = join(workDir, "bench-report.lua");
  writeFileSync(plain, WRK_SCRIPT);
  return {
    name: `wrk ${version}`,
    async run(url, spec) {
      assertLoopback(url);
      if (spec.durationS === undefined) throw new Error("wrk runs for a duration, not a request count");
      let script = plain;
      if (spec.session?.inTurn) throw new Error("wrk draws sessions at random only");
      if (spec.session) {
        script = join(workDir, `bench-sessions-${spec.session.count}.lua`);
        writeFileSync(script, wrkSessionScript(spec.session));
      }
      const seconds = Math.max(1, Math.round(spec.durationS));
      const result = await runCommand(
        "wrk",
        ["-t1", `-c${spec.connections}`, `-d${seconds}s`, "--timeout", "5s", "-s", script, url],
        (seconds + 30) * 1000,
      );
      const line = result.stdout.split("\n").find((l) => l.startsWith("WRKJSON "));
      if (!line) throw new Error(`wrk gave no result (exit ${result.code}):\n${result.stdout}${result.stderr}`);
      const raw = JSON.parse(line.slice("WRKJSON ".length)) as Record<string, number>;
      const durationS = raw["duration_us"]! / 1e6;
      const requests = raw["requests"]!;
      return {
        requests,
        errors: raw["status"]! + raw["connect"]! + raw["read"]! + raw["write"]! + raw["timeout"]!,
        durationS,
        rps: requests / durationS,
        p50Ms: raw["p50_us"]! / 1000,
        p99Ms: raw["p99_us"]! / 1000,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// node:http

/** Latencies (ms) as they come, in a typed array that doubles when full. */
export class LatencyLog {
  #values: Float64Array;
  #count = 0;

  constructor(expected: number) {
    this.#values = new Float64Array(Math.max(1, Math.min(Number.isFinite(expected) ? expected : 65_536, 1 << 20)));
  }

  get count(): number {
    return this.#count;
  }

  add(ms: number): void {
    if (this.#count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#count++] = ms;
  }

  /** The q-th quantile (0..1) of what was added, nearest rank. */
  percentiles(): { p50Ms: number; p99Ms: number } {
    const sorted = this.#values.slice(0, this.#count).sort();
    return { p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) };
  }
}

/** The q-th quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/**
 * A closed-loop keep-alive generator: `connections` loops, each sending the next GET as soon as
 * the previous answer was read. Stops at `requests` requests or `durationS`, whichever first.
 */
export function nodeGenerator(): LoadGenerator {
  return {
    name: `node:http keep-alive load generator (Node ${process.version})`,
    async run(url, spec) {
      assertLoopback(url);
      if (spec.durationS === undefined && spec.requests === undefined) {
        throw new Error("a load run needs a duration or a request count");
      }
      const target = new URL(url);
      const agent = new Agent({ keepAlive: true, maxSockets: spec.connections, maxFreeSockets: spec.connections });
      const limit = spec.requests ?? Number.POSITIVE_INFINITY;
      const deadline = performance.now() + (spec.durationS ?? 600) * 1000;
      const latencies = new LatencyLog(limit);
      let issued = 0;
      let errors = 0;

      const path = target.pathname + target.search;
      const session = spec.session;
      let turn = 0;
      const pick = (count: number) => (session?.inTurn ? turn++ % count : Math.floor(Math.random() * count));
      const headers = (): Record<string, string> | undefined =>
        session ? { [session.header]: `s${1 + pick(session.count)}` } : undefined;
      const once = () =>
        new Promise<boolean>((resolve) => {
          const req = request(
            { agent, host: target.hostname, port: target.port, path, method: "GET", headers: headers() },
            (res) => {
              const ok = (res.statusCode ?? 0) < 400;
              res.on("data", () => undefined);
              res.on("end", () => resolve(ok));
              res.on("error", () => resolve(false));
            },
          );
          req.setTimeout(5_000, () => req.destroy(new Error("timeout")));
          req.on("error", () => resolve(false));
          req.end();
        });

      const started = performance.now();
      await Promise.all(
        Array.from({ length: spec.connections }, async () => {
          while (issued < limit && performance.now() < deadline) {
            issued++;
            const t0 = performance.now();
            const ok = await once();
            const elapsed = performance.now() - t0;
            if (!ok) errors++;
            latencies.add(elapsed);
          }
        }),
      );
      const durationS = (performance.now() - started) / 1000;
      agent.destroy();
      return {
        requests: latencies.count,
        errors,
        durationS,
        rps: latencies.count / durationS,
        ...latencies.percentiles(),
      };
    },
  };
}
