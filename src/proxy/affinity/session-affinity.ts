import type { AffinitySpec } from "../../pool/pool-runtime.ts";
import { base64url } from "../../shared/base64url.ts";
import type { PoolState } from "../../state/pool-state.ts";
import { cookieValue } from "../hash-key.ts";
import { CookieSigner } from "./cookie-signer.ts";

/**
 * One pool's session affinity (Cloudflare Load Balancing's modes): which backend a request's
 * session is on, and what the response must carry so it stays there. `cookie` and `ip_cookie`
 * are stateless (a signed cookie names the backend); `header` keeps the placement in the shared
 * store, cached here so a session costs one store round trip per instance per TTL.
 */
export interface Session {
  /** The backend the session is placed on; undefined: none yet (or it lapsed). */
  readonly backend: string | undefined;
  /** Cookie modes: less than half the lifetime is left, so the cookie is issued again. */
  readonly renew: boolean;
  /** Header mode: the session key's digest; undefined in the cookie modes. */
  readonly key?: string;
}

/** A header session not re-confirmed at the store this long before its idle expiry counts as stale. */
const REFRESH_MARGIN = 0.05;
/** Header placements cached per instance (the rest are asked of the store again). */
const HEADER_CACHE_LIMIT = 50_000;

export class SessionAffinity {
  readonly #signer: CookieSigner | undefined;
  /** digest -> backend and until when it needs no store round trip */
  readonly #placements = new Map<string, { backend: string; freshUntil: number }>();

  constructor(
    readonly spec: AffinitySpec,
    secret: string,
    private readonly state: PoolState,
    private readonly clock: () => number = Date.now,
  ) {
    this.#signer = spec.mode === "header" ? undefined : new CookieSigner(secret, spec.ttlS);
  }

  /**
   * The request's session. Undefined when it has none to keep: header mode without the headers.
   * A missing, expired, altered or unknown cookie is a session with no backend (placed afresh).
   */
  async read(request: Request): Promise<Session | undefined> {
    const nowS = this.clock() / 1000;
    if (this.#signer) {
      const value = cookieValue(request.headers.get("cookie"), this.spec.cookieName);
      const placement = value ? await this.#signer.verify(value, nowS) : undefined;
      if (!placement) return { backend: undefined, renew: false };
      return { backend: placement.backend, renew: placement.expiresAtS - nowS < this.spec.ttlS / 2 };
    }
    const key = await this.#headerKey(request.headers);
    if (key === undefined) return undefined;
    const cached = this.#placements.get(key);
    const fresh = cached && cached.freshUntil > this.clock();
    return { backend: fresh ? cached.backend : undefined, renew: false, key };
  }

  /**
   * Header mode, a session not confirmed lately: the backend the store has it on, or
   * `candidate` when it has none (the first placement among instances wins).
   */
  async claim(session: Session, candidate: string, replacing?: string): Promise<string> {
    const ttlMs = this.spec.ttlS * 1000;
    const backend = await this.state.claimSession(session.key!, candidate, ttlMs, replacing);
    if (this.#placements.size >= HEADER_CACHE_LIMIT) this.#placements.delete(this.#placements.keys().next().value!);
    this.#placements.delete(session.key!);
    this.#placements.set(session.key!, { backend, freshUntil: this.clock() + ttlMs * (1 - REFRESH_MARGIN) });
    return backend;
  }

  /** Cookie modes: the Set-Cookie that places the session on `backend` for a full lifetime. */
  async cookieFor(backend: string): Promise<string> {
    const nowS = this.clock() / 1000;
    const { value, expiresAtS } = await this.#signer!.sign(backend, nowS);
    const maxAge = Math.max(0, Math.round(expiresAtS - nowS));
    return `${this.spec.cookieName}=${value}; Max-Age=${maxAge}; Path=/; HttpOnly; SameSite=Lax${this.spec.cookieSecure ? "; Secure" : ""}`;
  }

  /**
   * The session key: the named headers' values, digested so the store never holds a client's
   * token. Undefined when the request has none of them (or not all, with require_all_headers).
   */
  async #headerKey(headers: Headers): Promise<string | undefined> {
    const values: string[] = [];
    for (const name of this.spec.headers) {
      const value = headers.get(name);
      if (value === null) {
        if (this.spec.requireAllHeaders) return undefined;
        values.push("");
      } else values.push(value);
    }
    if (values.every((value) => value === "")) return undefined;
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(values.join("\u0000")));
    return base64url(new Uint8Array(digest, 0, 18));
  }
}
