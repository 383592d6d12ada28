// Property-based attack on the balancer: fast-check generates hostile requests (traversal in
// every spelling, absolute- and authority-form targets naming other servers, odd Host headers,
// odd methods, proxy headers, Connection games, conflicting framing, long values) and checks,
// for every one of them, what DESIGN.md ("What a request can never do") promises:
//
//   1. Only configured backends are contacted: the canary servers (never backends, but named by
//      the generators in targets and Host headers) see no connection at all, and each upstream
//      sees its own Host (the balancer does not preserve the client's by default).
//   2. Every request an upstream receives stays under the backend's base path (/api): its raw
//      req.url, and that target as a WHATWG-parsing upstream would resolve it.
//   3. Every answer is a well-formed HTTP/1.x response, or a clean close for a request that is
//      not plainly valid HTTP (the runtime's own parser may refuse those); never a hang past the
//      deadline.
//   4. The process keeps serving: alive after every batch, and a plain GET / answers 200 from an
//      upstream at the end.
//   5. A client's request is never held against a backend (DESIGN: only what the backend did
//      counts): no 502/503/504 answer and no 500 (the upstreams only ever answer 200, at once),
//      no attempt failure in edge_lb_attempt_failures_total, no ejection.
//
// Targets: the Hono app in-process (memory store, app.fetch with web Requests; only what a
// Request can carry), and real Node, Bun and Deno processes (test/support/runtimes.ts) over a
// raw HTTP/1.1 client (test/support/raw-http.ts), several sockets at a time, keep-alive off.
//
// Run: npx vitest run test/property (about 15 s). Reproduce: the seed is fixed and printed; HOSTILE_SEED=<n> picks another, HOSTILE_REQUESTS=<n>
// changes the number of requests per target (default 2000). A failure prints fast-check's
// shrunk counterexample, its seed and path.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Balancer, createBalancer } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { MemoryStore } from "../../src/state/memory.ts";
import {
  type Addresses,
  basePathEscape,
  describeRequest,
  type HostileRequest,
  headLike,
  hostileRequest,
  plainlyValid,
  toRaw,
  toWebRequest,
} from "../support/hostile-requests.ts";
import { encodeRequest, exchange, type RawOutcome } from "../support/raw-http.ts";
import { type RecordingServer, startRecordingServer } from "../support/recording-server.ts";
import { type RunningServer, SERVER_RUNTIMES, type ServerRuntime, startServer } from "../support/runtimes.ts";

const SEED = Number(process.env["HOSTILE_SEED"] ?? 20_261_202);
const REQUESTS = Number(process.env["HOSTILE_REQUESTS"] ?? 2_000);
/** Most requests in flight at once against a server runtime (one property run = one batch). */
const BATCH = 8;
/** One exchange, connect to last byte. The upstreams answer at once; the balancer adds little. */
const DEADLINE_MS = 3_000;
/** Generation plus shrinking, per target; fast-check reports the best counterexample so far. */
const TIME_LIMIT_MS = 45_000;
const BASE = "/api";
const ADMIN_TOKEN = "hostile-suite-admin-token-0123456789";
/** Statuses the balancer makes up when something failed; the upstreams never send them. */
const BLAME_STATUSES = new Set([500, 502, 503, 504]);
const blameLabel = (status: number) => (status === 500 ? "no unhandled error (500)" : "never held against a backend");

let upstreams: RecordingServer[];
let canaries: RecordingServer[];
let addresses: Addresses;

beforeAll(async () => {
  [upstreams, canaries] = await Promise.all([
    Promise.all(["u1", "u2"].map((name) => startRecordingServer(name))),
    Promise.all(["canary-1", "canary-2"].map((name) => startRecordingServer(name))),
  ]);
  addresses = { canaries: canaries.map((c) => c.authority), backends: upstreams.map((u) => u.authority) };
});
afterAll(async () => {
  await Promise.all([...(upstreams ?? []), ...(canaries ?? [])].map((s) => s.close()));
});

const backendsFlag = () => upstreams.map((u) => `${u.origin}${BASE}`).join(",");

/** What every upstream has seen so far, to diff a batch against. */
interface Mark {
  readonly requests: number;
  readonly rejected: number;
}
const marks = (): Mark[] => upstreams.map((u) => ({ requests: u.requests.length, rejected: u.rejected.length }));

/** The target of a request line node:http refused ("METHOD TARGET VERSION"). */
const targetOfRequestLine = (head: string) => head.split("\r\n", 1)[0]!.split(" ")[1] ?? "";

/** Properties 1 and 2 on what the upstreams and canaries saw since `before`. */
function sideEffectProblems(before: readonly Mark[]): string[] {
  const problems: string[] = [];
  for (const canary of canaries) {
    if (canary.connections() > 0 || canary.requests.length > 0) {
      const seen = canary.requests.map((r) => `${r.method} ${r.url} (Host ${r.hosts.join(" | ")})`);
      problems.push(
        `[1: only backends are contacted] canary ${canary.authority} got ${canary.connections()} connection(s): ${JSON.stringify(seen)}`,
      );
    }
  }
  upstreams.forEach((upstream, i) => {
    for (const rejected of upstream.rejected.slice(before[i]!.rejected)) {
      // node:http refused it (the balancer forwarded something that is not HTTP); its target
      // must still be under the base path.
      const url = targetOfRequestLine(rejected.head);
      const escaped = basePathEscape(url, BASE);
      if (escaped)
        problems.push(
          `[2: base path] ${upstream.name} received (and refused, ${rejected.code}) ${JSON.stringify(rejected.head.slice(0, 200))}: ${escaped}`,
        );
    }
    for (const seen of upstream.requests.slice(before[i]!.requests)) {
      const escaped = basePathEscape(seen.url, BASE);
      if (escaped)
        problems.push(
          `[2: base path] ${upstream.name} received ${seen.method} ${JSON.stringify(seen.url)}: ${escaped}`,
        );
      if (seen.hosts.length !== 1 || seen.hosts[0] !== upstream.authority) {
        problems.push(
          `[1: only backends are contacted] ${upstream.name} received Host ${JSON.stringify(seen.hosts)}, expected its own ${upstream.authority}`,
        );
      }
    }
  });
  return problems;
}

/** Property 5's counters: attempt failures (by backend and kind) and ejected backends. */
interface Blame {
  readonly failures: number;
  readonly ejected: number;
  readonly detail: string;
}

function blameFromMetrics(text: string): Blame {
  let failures = 0;
  let ejected = 0;
  const detail: string[] = [];
  for (const line of text.split("\n")) {
    const failure = /^edge_lb_attempt_failures_total\{([^}]*)\} (\d+)/.exec(line);
    if (failure) {
      failures += Number(failure[2]);
      detail.push(`${failure[1]}=${failure[2]}`);
    }
    const eject = /^edge_lb_backend_ejected\{([^}]*)\} (\d+)/.exec(line);
    if (eject && eject[2] !== "0") {
      ejected++;
      detail.push(`ejected ${eject[1]}`);
    }
  }
  return { failures, ejected, detail: detail.join("; ") };
}

function blameProblems(before: Blame, after: Blame): string[] {
  if (after.failures === before.failures && after.ejected <= before.ejected) return [];
  return [
    `[5: never held against a backend] attempt failures ${before.failures} -> ${after.failures}, ejected ${before.ejected} -> ${after.ejected} (${after.detail})`,
  ];
}

/** How many requests of a batch arbitrary the first `runs` runs of `seed` generate. */
function runsFor(batch: fc.Arbitrary<readonly unknown[]>, requests: number, seed: number): number {
  const lengths = fc.sample(
    batch.map((b) => b.length),
    { seed, numRuns: requests },
  );
  let total = 0;
  for (let i = 0; i < lengths.length; i++) {
    total += lengths[i]!;
    if (total >= requests) return i + 1;
  }
  return lengths.length;
}

function summary(label: string, counts: Map<string, number>): string {
  return `${label}: ${[...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(", ")}`;
}

const bump = (counts: Map<string, number>, key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);

describe("hostile requests: in-process (createBalancer, memory store, app.fetch)", () => {
  let balancer: Balancer;

  beforeAll(() => {
    const config = loadConfig({ env: { ADMIN_TOKEN }, flags: { backends: backendsFlag(), "log-requests": "false" } });
    balancer = createBalancer(config, {
      store: new MemoryStore(),
      clientIp: () => "198.51.100.7",
      log: () => undefined,
    });
  });

  const blame = (): Blame => {
    let failures = 0;
    for (const pool of balancer.pools) for (const n of pool.metrics.failures.values()) failures += n;
    const now = Date.now();
    let ejected = 0;
    for (const pool of balancer.pools) {
      for (const record of Object.values(pool.state.snapshot.backends))
        if ((record?.ejectedUntil ?? 0) > now) ejected++;
    }
    return { failures, ejected, detail: JSON.stringify([...balancer.pools[0]!.metrics.failures]) };
  };

  it(`${REQUESTS} generated requests a web Request can carry: properties 1, 2, 5 and a valid Response`, async () => {
    console.log(`hostile requests in-process: seed ${SEED}, ${REQUESTS} requests (HOSTILE_SEED=${SEED} to reproduce)`);
    let sent = 0;
    let refused = 0;
    const statuses = new Map<string, number>();
    const property = fc.asyncProperty(hostileRequest(addresses), async (hostile: HostileRequest) => {
      const request = toWebRequest(hostile);
      if (!request) {
        refused++;
        // Not a request a runtime could hand over: generate another.
        fc.pre(false);
        return;
      }
      sent++;
      const before = marks();
      const blameBefore = blame();
      const problems: string[] = [];
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), DEADLINE_MS)));
      // The whole exchange, body included, within the deadline.
      const answer = await Promise.race([
        (async () => {
          const response = await balancer.fetch(request);
          return { response, body: await response.text() };
        })().catch((error: unknown) => error as Error),
        deadline,
      ]);
      clearTimeout(timer);
      if (answer === "timeout") problems.push(`[3: no hang] app.fetch did not settle within ${DEADLINE_MS} ms`);
      else if (answer instanceof Error || !(answer.response instanceof Response))
        problems.push(`[3: a response] app.fetch gave ${String(answer)}`);
      else {
        const { status } = answer.response;
        bump(statuses, String(status));
        if (!Number.isInteger(status) || status < 200 || status > 599)
          problems.push(`[3: a response] status ${status}`);
        if (BLAME_STATUSES.has(status)) {
          problems.push(
            `[5: ${blameLabel(status)}] answered ${status} ${JSON.stringify(answer.body.slice(0, 160))} while both upstreams are healthy`,
          );
        }
      }
      problems.push(...sideEffectProblems(before), ...blameProblems(blameBefore, blame()));
      if (problems.length > 0) {
        throw new Error(
          `${request.method} ${request.url} ${JSON.stringify([...request.headers])}:\n  ${problems.join("\n  ")}`,
        );
      }
    });
    await fc.assert(property, {
      seed: SEED,
      numRuns: REQUESTS,
      maxSkipsPerRun: 10,
      includeErrorInReport: true,
      plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS, { failOnInterrupt: true })],
    });
    console.log(summary(`in-process: ${sent} sent, ${refused} refused by Request; statuses`, statuses));
    expect(sent).toBeGreaterThanOrEqual(REQUESTS);
  });

  it("after the run, canaries were never contacted and GET / answers 200 from an upstream", async () => {
    expect(canaries.map((c) => c.connections())).toEqual([0, 0]);
    const response = await balancer.fetch(new Request("http://lb.local/"));
    expect(response.status).toBe(200);
    expect(upstreams.map((u) => u.name)).toContain(response.headers.get("x-upstream"));
    await response.arrayBuffer();
  });
});

/** The running balancer of one runtime; restarted if a request kills it, so shrinking can go on. */
class Target {
  server!: RunningServer;
  readonly crashes: string[] = [];
  constructor(readonly runtime: ServerRuntime) {}

  async start(): Promise<void> {
    this.server = await startServer(this.runtime, [`--backends=${backendsFlag()}`, "--log-requests=false"], {
      ADMIN_TOKEN,
    });
  }

  alive(): boolean {
    return this.server.process.exitCode === null && this.server.process.signalCode === null;
  }

  /** Property 4 after a batch: if the process died, say so (and start a fresh one). */
  async ensureAlive(): Promise<string | undefined> {
    if (this.alive()) return undefined;
    const { exitCode, signalCode } = this.server.process;
    const message = `[4: keeps serving] the ${this.runtime} process exited (code ${exitCode}, signal ${signalCode}); stderr: ${this.server.stderr.slice(-5).join(" | ")}`;
    this.crashes.push(message);
    await this.start();
    return message;
  }

  async blame(): Promise<Blame> {
    const response = await fetch(`${this.server.url}/_lb/metrics`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`GET /_lb/metrics answered ${response.status}: ${text.slice(0, 200)}`);
    return blameFromMetrics(text);
  }
}

/** Property 3 for one exchange; undefined when the answer is acceptable. */
function answerProblem(request: HostileRequest, outcome: RawOutcome): string | undefined {
  switch (outcome.kind) {
    case "response": {
      const { status } = outcome.response;
      if (BLAME_STATUSES.has(status))
        return `[5: ${blameLabel(status)}] answered ${status} ${JSON.stringify(outcome.response.body.toString("utf8").slice(0, 160))} while both upstreams are healthy`;
      return undefined;
    }
    case "closed":
      return plainlyValid(request)
        ? `[3: an HTTP answer] a plainly valid request got a ${outcome.how === "reset" ? "reset" : "close"} and no response`
        : undefined;
    case "malformed":
      return `[3: well-formed] ${outcome.reason}; received ${JSON.stringify(outcome.received.toString("latin1").slice(0, 300))}`;
    case "timeout":
      return `[3: no hang] no complete answer within ${DEADLINE_MS} ms; received ${JSON.stringify(outcome.received.toString("latin1").slice(0, 300))}`;
    case "connect-error":
      return `[4: keeps serving] cannot connect: ${outcome.error}`;
  }
}

function outcomeKey(outcome: RawOutcome): string {
  if (outcome.kind === "response") return String(outcome.response.status);
  if (outcome.kind === "closed") return `closed(${outcome.how})`;
  return outcome.kind;
}

describe.each(SERVER_RUNTIMES)("hostile requests: %s process over raw HTTP/1.1", (runtime) => {
  const target = new Target(runtime);

  beforeAll(async () => {
    await target.start();
  });
  afterAll(async () => {
    await target.server?.stop("SIGKILL");
  });

  it(`${REQUESTS}+ generated requests, ${BATCH} sockets at a time: properties 1-5`, async () => {
    // minLength 0, not 1: fast-check shrinks "keep the first item, shrink the rest" with the
    // same length bounds, so only with 0 can a failing batch shrink to its one culprit.
    const batch = fc.array(hostileRequest(addresses), { minLength: 0, maxLength: BATCH });
    const numRuns = runsFor(batch, REQUESTS, SEED);
    console.log(
      `hostile requests on ${runtime}: seed ${SEED}, ${numRuns} batches of 0-${BATCH} (HOSTILE_SEED=${SEED} to reproduce)`,
    );
    let sent = 0;
    let trailing = 0;
    const outcomes = new Map<string, number>();
    const started = performance.now();
    const property = fc.asyncProperty(batch, async (requests) => {
      const before = marks();
      const blameBefore = await target.blame();
      const results = await Promise.all(
        requests.map((request) => {
          const raw = toRaw(request);
          return exchange(encodeRequest(raw), {
            port: target.server.port,
            deadlineMs: DEADLINE_MS,
            noBody: request.method === "HEAD" ? true : headLike(request.method) ? "either" : false,
            connect: request.method === "CONNECT",
          });
        }),
      );
      sent += requests.length;
      const problems: string[] = [];
      results.forEach((outcome, i) => {
        bump(outcomes, outcomeKey(outcome));
        if (outcome.kind === "response" && outcome.trailing.length > 0) trailing++;
        const problem = answerProblem(requests[i]!, outcome);
        if (problem) problems.push(`${describeRequest(requests[i]!)}\n    ${problem}`);
      });
      const died = await target.ensureAlive();
      if (died) problems.push(died);
      else problems.push(...blameProblems(blameBefore, await target.blame()));
      problems.push(...sideEffectProblems(before));
      if (problems.length > 0) {
        const sentList = requests.map((r) => `  > ${describeRequest(r)}`).join("\n");
        throw new Error(`batch of ${requests.length}:\n${sentList}\n  ${problems.join("\n  ")}`);
      }
    });
    try {
      await fc.assert(property, {
        seed: SEED,
        numRuns,
        includeErrorInReport: true,
        plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS, { failOnInterrupt: true })],
      });
    } finally {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        summary(
          `${runtime}: ${sent} requests in ${seconds} s, ${trailing} answers with trailing bytes; outcomes`,
          outcomes,
        ),
      );
    }
    expect(sent).toBeGreaterThanOrEqual(REQUESTS);
  });

  it("after the run: canaries never contacted, the process alive, GET / answers 200 from an upstream", async () => {
    expect(canaries.map((c) => c.connections())).toEqual([0, 0]);
    expect(target.crashes).toEqual([]);
    expect(target.alive()).toBe(true);
    const response = await fetch(`${target.server.url}/`);
    expect(response.status).toBe(200);
    expect(upstreams.map((u) => u.name)).toContain(response.headers.get("x-upstream"));
    await response.arrayBuffer();
  });
});
