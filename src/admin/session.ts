// Dashboard sessions: `v1.<expiry epoch s>.<nonce>.<signature>`, signed with HMAC-SHA-256 under
// a key derived from ADMIN_TOKEN. Stateless on purpose: at the edge there is no single process
// to hold a session table, and any instance that knows the token verifies any other's sessions
// without a store round trip. The price: a session cannot be revoked before its expiry except
// by rotating ADMIN_TOKEN, which changes the key and so invalidates every session at once.
// Only crypto.subtle is used, so this runs unchanged on workerd, Node, Bun and Deno.

import { base64url, base64urlDecode } from "../shared/base64url.ts";

const VERSION = "v1";
/**
 * Domain separation: the HMAC key is SHA-256(label + token), never the token itself, so a
 * session signature says nothing usable about the token, and other secrets derived from the
 * same token later (affinity cookies) get different keys.
 */
const KEY_LABEL = "edge-lb admin session key v1\u0000";
const NONCE_BYTES = 16;
const SIGNATURE_BYTES = 32;
/** Instances' clocks differ a little; a session from one may look slightly "too new" to another. */
const CLOCK_SKEW_S = 60;
/** The key for the current token (and a rotated one or two) stays imported; more are not kept. */
const KEY_CACHE_LIMIT = 4;

const SHAPE = /^v1\.(\d{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

/** Imports the HMAC key for `token` once; every later sign or verify reuses the CryptoKey. */
function keyFor(token: string): Promise<CryptoKey> {
  let key = keys.get(token);
  if (!key) {
    key = crypto.subtle
      .digest("SHA-256", encoder.encode(KEY_LABEL + token))
      .then((raw) => crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]));
    // A failed import must not be remembered as the key forever.
    key.catch(() => keys.delete(token));
    if (keys.size >= KEY_CACHE_LIMIT) keys.delete(keys.keys().next().value!);
    keys.set(token, key);
  }
  return key;
}

/** A session valid until `expiresAtS` (epoch seconds). Exported for tests that forge old ones. */
export async function signSession(token: string, expiresAtS: number): Promise<string> {
  const nonce = base64url(crypto.getRandomValues(new Uint8Array(NONCE_BYTES)));
  const payload = `${VERSION}.${Math.floor(expiresAtS)}.${nonce}`;
  const signature = await crypto.subtle.sign("HMAC", await keyFor(token), encoder.encode(payload));
  return `${payload}.${base64url(new Uint8Array(signature))}`;
}

/**
 * True only for a session this token's key signed, not yet expired at `nowS`, and expiring no
 * later than `maxTtlS` from now (so lowering the TTL also shortens sessions already issued).
 * The signature is checked by crypto.subtle.verify, which compares in constant time.
 */
export async function verifySession(token: string, value: string, nowS: number, maxTtlS: number): Promise<boolean> {
  const match = SHAPE.exec(value);
  if (!match) return false;
  const signature = base64urlDecode(match[3]!);
  // Canonical spelling only: the last character has two spare bits, so two spellings of one
  // signature would otherwise both pass.
  if (!signature || signature.length !== SIGNATURE_BYTES || base64url(signature) !== match[3]) return false;
  const payload = value.slice(0, value.length - match[3]!.length - 1);
  const valid = await crypto.subtle.verify("HMAC", await keyFor(token), signature, encoder.encode(payload));
  if (!valid) return false;
  const expiresAtS = Number(match[1]);
  return expiresAtS > nowS && expiresAtS <= nowS + maxTtlS + CLOCK_SKEW_S;
}

/** One balancer's sessions: its token, its TTL and its clock. */
export class AdminSessions {
  constructor(
    private readonly token: string,
    readonly ttlS: number,
    private readonly nowS: () => number = () => Date.now() / 1000,
  ) {}

  issue(): Promise<string> {
    return signSession(this.token, this.nowS() + this.ttlS);
  }

  verify(value: string | undefined): Promise<boolean> {
    return value ? verifySession(this.token, value, this.nowS(), this.ttlS) : Promise.resolve(false);
  }
}
