// Affinity cookies: `<backend, base64url>.<expiry epoch s>.<HMAC-SHA-256, first 16 bytes>`,
// keyed by SHA-256(label + AFFINITY_SECRET). Stateless, as Cloudflare's are: any instance with the
// secret verifies any other's cookie without a store call. Only crypto.subtle, so it runs
// unchanged on workerd, Node, Bun and Deno. Verified and signed values are cached, so a client
// that keeps its cookie costs one map lookup per request, not an HMAC.
import { base64url, base64urlDecode } from "../../shared/base64url.ts";

/** Domain separation from every other use of a secret (the admin session key has its own label). */
const KEY_LABEL = "edge-lb affinity cookie key v1\u0000";
/** 128 bits: forging one needs 2^128 guesses, and the cookie stays short. */
const MAC_BYTES = 16;
/** Expiries are rounded up to the minute, so clients placed in one minute share one signature. */
const EXPIRY_GRANULE_S = 60;
/** Instances' clocks differ a little; a cookie from one may look slightly "too new" to another. */
const CLOCK_SKEW_S = 60;
/** Each cache holds at most this many values by default; the oldest goes first. */
const CACHE_LIMIT = 10_000;

const SHAPE = /^([A-Za-z0-9_-]{1,400})\.(\d{1,12})\.([A-Za-z0-9_-]{22})$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export interface SignedPlacement {
  readonly backend: string;
  /** Epoch seconds. */
  readonly expiresAtS: number;
}

export class CookieSigner {
  readonly #key: Promise<CryptoKey>;
  readonly #verified = new Map<string, SignedPlacement>();
  readonly #signed = new Map<string, string>();

  constructor(
    secret: string,
    private readonly ttlS: number,
    /** Values each cache keeps (tests use a small one to see the oldest go). */
    private readonly cacheLimit = CACHE_LIMIT,
  ) {
    this.#key = crypto.subtle
      .digest("SHA-256", encoder.encode(KEY_LABEL + secret))
      .then((raw) => crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]));
  }

  /** The cookie value placing a session on `backend` for the TTL from `nowS` (rounded up). */
  async sign(backend: string, nowS: number): Promise<{ value: string; expiresAtS: number }> {
    const expiresAtS = Math.ceil((nowS + this.ttlS) / EXPIRY_GRANULE_S) * EXPIRY_GRANULE_S;
    const payload = `${base64url(encoder.encode(backend))}.${expiresAtS}`;
    let value = this.#signed.get(payload);
    if (!value) {
      const mac = await crypto.subtle.sign("HMAC", await this.#key, encoder.encode(payload));
      value = `${payload}.${base64url(new Uint8Array(mac, 0, MAC_BYTES))}`;
      remember(this.#signed, payload, value, this.cacheLimit);
      remember(this.#verified, value, { backend, expiresAtS }, this.cacheLimit);
    }
    return { value, expiresAtS };
  }

  /**
   * The placement a cookie value names, when this secret signed it and it has not expired (nor
   * expires further out than the TTL allows: lowering the TTL shortens cookies already issued).
   * Anything else, altered, expired or malformed, is undefined: treated as no cookie at all.
   */
  async verify(value: string, nowS: number): Promise<SignedPlacement | undefined> {
    const known = this.#verified.get(value);
    if (known) return this.#current(known, nowS);
    const match = SHAPE.exec(value);
    if (!match) return undefined;
    const mac = base64urlDecode(match[3]!);
    const name = base64urlDecode(match[1]!);
    // Canonical spellings only: spare bits would otherwise let two spellings of one value pass.
    if (!mac || !name || base64url(mac) !== match[3] || base64url(name) !== match[1]) return undefined;
    const payload = `${match[1]}.${match[2]}`;
    const full = new Uint8Array(await crypto.subtle.sign("HMAC", await this.#key, encoder.encode(payload)));
    if (!equalInConstantTime(full.subarray(0, MAC_BYTES), mac)) return undefined;
    let backend: string;
    try {
      backend = decoder.decode(name);
    } catch {
      return undefined;
    }
    const placement = { backend, expiresAtS: Number(match[2]) };
    remember(this.#verified, value, placement, this.cacheLimit);
    return this.#current(placement, nowS);
  }

  #current(placement: SignedPlacement, nowS: number): SignedPlacement | undefined {
    const { expiresAtS } = placement;
    const latest = nowS + this.ttlS + EXPIRY_GRANULE_S + CLOCK_SKEW_S;
    return expiresAtS > nowS && expiresAtS <= latest ? placement : undefined;
  }
}

function remember<V>(cache: Map<string, V>, key: string, value: V, limit: number): void {
  if (cache.size >= limit) cache.delete(cache.keys().next().value!);
  cache.set(key, value);
}

/** Compares two MACs without stopping at the first difference (crypto.subtle.verify cannot truncate). */
function equalInConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}
