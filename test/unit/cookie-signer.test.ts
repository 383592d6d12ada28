import { afterEach, describe, expect, it, vi } from "vitest";
import { CookieSigner } from "../../src/proxy/affinity/cookie-signer.ts";
import { base64url } from "../../src/shared/base64url.ts";

const SECRET = "unit-affinity-secret-0123456789";
/** A whole minute in epoch seconds (1_700_000_040 = 60 × 28_333_334). */
const MINUTE = 1_700_000_040;
const TTL_S = 600;
const encoder = new TextEncoder();

/** The documented format, computed independently: `<name b64url>.<expiry>.<HMAC-SHA-256[0..16) b64url>`. */
async function forge(secret: string, name: Uint8Array, expiry: string): Promise<string> {
  const raw = await crypto.subtle.digest("SHA-256", encoder.encode(`edge-lb affinity cookie key v1\u0000${secret}`));
  const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const payload = `${base64url(name)}.${expiry}`;
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(payload));
  return `${payload}.${base64url(new Uint8Array(mac, 0, 16))}`;
}

/** The same value with one character of part `index` (0 name, 1 expiry, 2 MAC) replaced. */
function alter(value: string, index: number, at: number, by: string): string {
  const parts = value.split(".");
  const part = parts[index]!;
  parts[index] = part.slice(0, at) + by + part.slice(at + 1);
  return parts.join(".");
}

afterEach(() => vi.restoreAllMocks());

describe("CookieSigner", () => {
  it("verifies what it signed, naming the backend and the expiry", async () => {
    const signer = new CookieSigner(SECRET, TTL_S);
    const { value, expiresAtS } = await signer.sign("b", MINUTE);
    expect(value).toMatch(/^Yg\.\d+\.[A-Za-z0-9_-]{22}$/);
    expect(await signer.verify(value, MINUTE)).toEqual({ backend: "b", expiresAtS });
    // A second instance with the same secret verifies it without having signed it.
    expect(await new CookieSigner(SECRET, TTL_S).verify(value, MINUTE + 1)).toEqual({ backend: "b", expiresAtS });
  });

  it("writes the documented format: the MAC is HMAC-SHA-256 keyed by SHA-256(label + secret)", async () => {
    const { value, expiresAtS } = await new CookieSigner(SECRET, TTL_S).sign("b", MINUTE);
    expect(value).toBe(await forge(SECRET, encoder.encode("b"), String(expiresAtS)));
  });

  it("rounds the expiry up to the minute, so sessions placed within one minute share one value", async () => {
    const signer = new CookieSigner(SECRET, TTL_S);
    expect((await signer.sign("a", MINUTE)).expiresAtS).toBe(MINUTE + TTL_S);
    const early = await signer.sign("a", MINUTE + 0.5);
    const late = await signer.sign("a", MINUTE + 59.9);
    expect(early.expiresAtS).toBe(MINUTE + 60 + TTL_S);
    expect(late).toEqual(early);
    expect((await signer.sign("a", MINUTE + 60.001)).expiresAtS).toBe(MINUTE + 120 + TTL_S);
  });

  it("round-trips a backend name with non-ASCII characters", async () => {
    const signer = new CookieSigner(SECRET, TTL_S);
    for (const name of ["bäckend-ü", "後端-1", "🦀", "a.b.c", "[::1]:8080"]) {
      const { value } = await signer.sign(name, MINUTE);
      expect(value.split(".")).toHaveLength(3);
      expect((await new CookieSigner(SECRET, TTL_S).verify(value, MINUTE))?.backend).toBe(name);
    }
  });

  it("refuses an altered MAC, backend or expiry", async () => {
    const signer = new CookieSigner(SECRET, TTL_S);
    const { value, expiresAtS } = await signer.sign("a", MINUTE);
    const mac = value.split(".")[2]!;
    const otherMac = alter(value, 2, 0, mac[0] === "A" ? "B" : "A");
    const otherBackend = `${base64url(encoder.encode("b"))}.${expiresAtS}.${mac}`;
    const laterExpiry = `${value.split(".")[0]}.${expiresAtS + 60}.${mac}`;
    const earlierExpiry = `${value.split(".")[0]}.${expiresAtS - 60}.${mac}`;
    for (const bad of [otherMac, otherBackend, laterExpiry, earlierExpiry]) {
      expect(await new CookieSigner(SECRET, TTL_S).verify(bad, MINUTE), bad).toBeUndefined();
      expect(await signer.verify(bad, MINUTE), bad).toBeUndefined();
    }
  });

  it("refuses a non-canonical base64url spelling of the same bytes", async () => {
    const signer = new CookieSigner(SECRET, TTL_S);
    const { value } = await signer.sign("a", MINUTE);
    const [name, expiry, mac] = value.split(".") as [string, string, string];
    // The last of 22 MAC characters carries 4 spare bits, "YQ" ("a") 4 as well: flipping the
    // lowest bit keeps the decoded bytes, so only the canonical-spelling check stops these.
    const flip = (text: string) => {
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      const last = alphabet.indexOf(text.at(-1)!);
      return text.slice(0, -1) + alphabet[last ^ 1];
    };
    expect(name).toBe("YQ");
    for (const bad of [`${name}.${expiry}.${flip(mac)}`, `${flip(name)}.${expiry}.${mac}`]) {
      expect(await new CookieSigner(SECRET, TTL_S).verify(bad, MINUTE), bad).toBeUndefined();
    }
    // Leading zeros are another spelling of the expiry; the MAC covers the text, so it fails too.
    expect(await signer.verify(`${name}.0${expiry}.${mac}`, MINUTE)).toBeUndefined();
  });

  it("refuses a cookie signed with another secret", async () => {
    const { value } = await new CookieSigner("another-secret-0123456789", TTL_S).sign("a", MINUTE);
    expect(await new CookieSigner(SECRET, TTL_S).verify(value, MINUTE)).toBeUndefined();
  });

  it("refuses an expired cookie, from its expiry second on", async () => {
    const signer = new CookieSigner(SECRET, TTL_S);
    const { value, expiresAtS } = await signer.sign("a", MINUTE);
    expect(await signer.verify(value, expiresAtS - 0.001)).toEqual({ backend: "a", expiresAtS });
    expect(await signer.verify(value, expiresAtS)).toBeUndefined();
    expect(await new CookieSigner(SECRET, TTL_S).verify(value, expiresAtS + 3600)).toBeUndefined();
  });

  it("refuses an expiry beyond TTL + one minute's rounding + one minute's clock skew", async () => {
    const verifier = new CookieSigner(SECRET, TTL_S);
    // Signed with a longer TTL (as before AFFINITY_TTL_S was lowered), by the same secret.
    const atLimit = await new CookieSigner(SECRET, TTL_S + 120).sign("a", MINUTE);
    expect(atLimit.expiresAtS).toBe(MINUTE + TTL_S + 120);
    expect(await verifier.verify(atLimit.value, MINUTE)).toEqual({ backend: "a", expiresAtS: atLimit.expiresAtS });
    expect(await new CookieSigner(SECRET, TTL_S).verify(atLimit.value, MINUTE - 0.001)).toBeUndefined();
    const beyond = await new CookieSigner(SECRET, TTL_S + 121).sign("a", MINUTE);
    expect(beyond.expiresAtS).toBe(MINUTE + TTL_S + 180);
    expect(await verifier.verify(beyond.value, MINUTE)).toBeUndefined();
    // A minute later it is within the bound again: the bound moves with the clock.
    expect(await verifier.verify(beyond.value, MINUTE + 60)).toEqual({ backend: "a", expiresAtS: beyond.expiresAtS });
    const far = await new CookieSigner(SECRET, 30 * 86_400).sign("a", MINUTE);
    expect(await verifier.verify(far.value, MINUTE)).toBeUndefined();
  });

  it.each([
    ["empty", ""],
    ["one part", "YQ"],
    ["two parts", "YQ.1700000640"],
    ["four parts", "YQ.1700000640.AAAAAAAAAAAAAAAAAAAAAA.x"],
    ["empty name", ".1700000640.AAAAAAAAAAAAAAAAAAAAAA"],
    ["short MAC", "YQ.1700000640.AAAAAAAAAAAAAAAAAAAAA"],
    ["long MAC", "YQ.1700000640.AAAAAAAAAAAAAAAAAAAAAAA"],
    ["padded MAC", "YQ.1700000640.AAAAAAAAAAAAAAAAAAAA=="],
    ["standard base64 in the name", "a+/b.1700000640.AAAAAAAAAAAAAAAAAAAAAA"],
    ["negative expiry", "YQ.-1700000640.AAAAAAAAAAAAAAAAAAAAAA"],
    ["fractional expiry", "YQ.1700000640.5.AAAAAAAAAAAAAAAAAAAAAA"],
    ["13-digit expiry", "YQ.1700000640000.AAAAAAAAAAAAAAAAAAAAAA"],
    ["name of a length base64 cannot have", "YQYQY.1700000640.AAAAAAAAAAAAAAAAAAAAAA"],
    ["name over 400 characters", `${"QUFB".repeat(101)}.1700000640.AAAAAAAAAAAAAAAAAAAAAA`],
    ["whitespace", " YQ.1700000640.AAAAAAAAAAAAAAAAAAAAAA"],
    ["quoted", '"YQ.1700000640.AAAAAAAAAAAAAAAAAAAAAA"'],
  ])("refuses a malformed value (%s)", async (_label, value) => {
    expect(await new CookieSigner(SECRET, TTL_S).verify(value, MINUTE)).toBeUndefined();
  });

  it("refuses a name that is not UTF-8, even under a valid MAC", async () => {
    const value = await forge(SECRET, new Uint8Array([0x61, 0xff, 0xfe]), String(MINUTE + TTL_S));
    expect(await new CookieSigner(SECRET, TTL_S).verify(value, MINUTE)).toBeUndefined();
  });

  it("keeps at most its limit of signed and verified values, dropping the oldest", async () => {
    const signer = new CookieSigner(SECRET, TTL_S, 2);
    const hmacs = vi.spyOn(crypto.subtle, "sign");
    const values: string[] = [];
    for (const name of ["a", "b", "c", "d", "e", "f"]) values.push((await signer.sign(name, MINUTE)).value);
    expect(hmacs).toHaveBeenCalledTimes(6);

    // Only the last two are still known: verifying them needs no HMAC, the four before do.
    hmacs.mockClear();
    expect((await signer.verify(values[5]!, MINUTE))?.backend).toBe("f");
    expect((await signer.verify(values[4]!, MINUTE))?.backend).toBe("e");
    expect(hmacs).not.toHaveBeenCalled();
    for (const [i, name] of ["a", "b", "c", "d"].entries()) {
      expect((await signer.verify(values[i]!, MINUTE))?.backend).toBe(name);
    }
    expect(hmacs).toHaveBeenCalledTimes(4);

    // The signed cache, apart from the verified one, holds the last two payloads signed.
    hmacs.mockClear();
    expect((await signer.sign("f", MINUTE)).value).toBe(values[5]);
    expect((await signer.sign("e", MINUTE)).value).toBe(values[4]);
    expect(hmacs).not.toHaveBeenCalled();
    expect((await signer.sign("a", MINUTE)).value).toBe(values[0]);
    expect(hmacs).toHaveBeenCalledTimes(1);
  });

  it("does not cache what it refused", async () => {
    const signer = new CookieSigner(SECRET, TTL_S);
    const { value } = await new CookieSigner("another-secret-0123456789", TTL_S).sign("a", MINUTE);
    const hmacs = vi.spyOn(crypto.subtle, "sign");
    expect(await signer.verify(value, MINUTE)).toBeUndefined();
    expect(await signer.verify(value, MINUTE)).toBeUndefined();
    expect(hmacs).toHaveBeenCalledTimes(2);
  });
});
