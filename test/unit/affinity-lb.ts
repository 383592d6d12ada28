// An in-process balancer with session affinity over the memory store, and a client that keeps
// its cookie, for the affinity unit tests (not a test file itself).
import { type Balancer, createBalancer } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { MemoryStore } from "../../src/state/memory.ts";

export const ADMIN_TOKEN = "unit-admin-token-0123456789";
export const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };
export const NAMES = ["a", "b", "c"] as const;
const BACKENDS = NAMES.map((name) => `http://${name}.test:80|name=${name}`).join(",");

/** What fetch throws for a closed port (undici's shape): the request never reached the backend. */
function refused(): TypeError {
  return new TypeError("fetch failed", {
    cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
  });
}

export interface TestLb {
  readonly balancer: Balancer;
  readonly store: MemoryStore;
  /** Backend names in the order they were asked, refused attempts included. */
  readonly hits: string[];
  /** Backends whose port is "closed": fetch refuses them. */
  readonly down: Set<string>;
  readonly lines: string[];
  /** POST /_lb/backends/<name>/<action> with a JSON body (or none). */
  admin(name: string, action: string, body?: string): Promise<Response>;
  /** Writes a backend's shared record, as health checks or ejection would. */
  write(name: string, patch: Parameters<Balancer["pools"][number]["state"]["write"]>[1]): Promise<void>;
}

/**
 * `env` adds to and overrides: ADMIN_TOKEN, the three backends a, b, c, cookie affinity without
 * Secure, no request log. Instances given one `store` share it, as instances sharing Redis do.
 */
export function testLb(env: Record<string, string> = {}, store = new MemoryStore()): TestLb {
  const hits: string[] = [];
  const down = new Set<string>();
  const lines: string[] = [];
  const config = loadConfig({
    env: { ADMIN_TOKEN, AFFINITY: "cookie", AFFINITY_COOKIE_SECURE: "false", ...env },
    flags: { backends: BACKENDS, "log-requests": "false" },
  });
  const balancer = createBalancer(config, {
    store,
    clientIp: (c) => c.req.header("x-test-ip") ?? "198.51.100.7",
    log: (line) => lines.push(line),
    fetch: async (input) => {
      const name = new URL(input instanceof Request ? input.url : String(input)).hostname.split(".")[0]!;
      hits.push(name);
      if (down.has(name)) throw refused();
      return new Response(`from ${name}`, { headers: { "x-upstream": name } });
    },
  });
  return {
    balancer,
    store,
    hits,
    down,
    lines,
    admin: async (name, action, body) =>
      await balancer.fetch(
        new Request(`http://lb.test/_lb/backends/${name}/${action}`, {
          method: "POST",
          headers: { ...AUTH, "content-type": "application/json" },
          ...(body === undefined ? {} : { body }),
        }),
      ),
    write: (name, patch) => balancer.pools[0]!.state.write(name, patch),
  };
}

export interface Answer {
  readonly status: number;
  /** The backend that answered (x-upstream); undefined for the balancer's own answers. */
  readonly upstream: string | undefined;
  readonly setCookie: string | null;
}

/** A browser of one: sends its cookie, keeps the one it is given. */
export class Client {
  cookie: string | undefined;

  constructor(
    private readonly lb: TestLb,
    private readonly headers: Record<string, string> = {},
  ) {}

  async get(path = "/"): Promise<Answer> {
    const headers = { ...this.headers, ...(this.cookie ? { cookie: `other=1; ${this.cookie}` } : {}) };
    const response = await this.lb.balancer.fetch(new Request(`http://lb.test${path}`, { headers }));
    await response.arrayBuffer();
    const setCookie = response.headers.get("set-cookie");
    if (setCookie) this.cookie = setCookie.split(";")[0];
    return { status: response.status, upstream: response.headers.get("x-upstream") ?? undefined, setCookie };
  }
}

/** The backend `n` new clients are placed on, one request each. */
export async function placements(lb: TestLb, n: number, headers: Record<string, string> = {}): Promise<string[]> {
  const placed: string[] = [];
  for (let i = 0; i < n; i++) placed.push((await new Client(lb, headers).get()).upstream ?? "none");
  return placed;
}
