// A client that keeps the affinity cookie the balancer sets, as a browser would (name=value
// only; the tests speak plain HTTP, so the Secure attribute is not enforced here).
import type { LbTarget } from "./lb-targets.ts";

export class CookieClient {
  cookie: string | undefined;
  readonly upstreams: string[] = [];

  constructor(readonly name = "lb_affinity") {}

  async get(target: Pick<LbTarget, "fetch">, path: string, headers: Record<string, string> = {}): Promise<Response> {
    const response = await target.fetch(path, {
      headers: { ...headers, ...(this.cookie ? { cookie: `${this.name}=${this.cookie}` } : {}) },
    });
    await response.arrayBuffer();
    const set = setCookieValue(response, this.name);
    if (set !== undefined) this.cookie = set;
    this.upstreams.push(response.headers.get("x-upstream") ?? `status ${response.status}`);
    return response;
  }
}

/** The value the response sets for cookie `name`, if it sets one. */
export function setCookieValue(response: Response, name: string): string | undefined {
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const eq = pair!.indexOf("=");
    if (pair!.slice(0, eq).trim() === name) return pair!.slice(eq + 1).trim();
  }
  return undefined;
}
