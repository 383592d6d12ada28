import { describe, expect, it } from "vitest";
import { AdminSessions, signSession, verifySession } from "../../src/admin/session.ts";

const TOKEN = "unit-admin-token-0123456789";
const OTHER = "another-admin-token-9876543210";
const NOW = 1_800_000_000;
const TTL = 43_200;

/** Replaces the character at `index` with a different base64url character. */
const flip = (value: string, index: number) =>
  value.slice(0, index) + (value[index] === "A" ? "B" : "A") + value.slice(index + 1);

describe("admin sessions", () => {
  it("has the documented shape and never contains the token", async () => {
    const session = await signSession(TOKEN, NOW + TTL);
    expect(session).toMatch(/^v1\.1800043200\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(session).not.toContain(TOKEN);
    // A fresh nonce each time: two sign-ins in the same second are different sessions.
    expect(await signSession(TOKEN, NOW + TTL)).not.toBe(session);
  });

  it("verifies its own sessions until they expire, and on another instance with the same token", async () => {
    const session = await new AdminSessions(TOKEN, TTL, () => NOW).issue();
    expect(await verifySession(TOKEN, session, NOW, TTL)).toBe(true);
    expect(await new AdminSessions(TOKEN, TTL, () => NOW + TTL - 1).verify(session)).toBe(true);
    expect(await verifySession(TOKEN, session, NOW + TTL, TTL)).toBe(false);
    expect(await verifySession(TOKEN, session, NOW + TTL + 1, TTL)).toBe(false);
  });

  it("refuses a session signed under another token (rotating ADMIN_TOKEN ends every session)", async () => {
    const session = await signSession(OTHER, NOW + TTL);
    expect(await verifySession(TOKEN, session, NOW, TTL)).toBe(false);
    expect(await verifySession(OTHER, session, NOW, TTL)).toBe(true);
  });

  it("refuses any altered character: version, expiry, nonce or signature", async () => {
    const session = await signSession(TOKEN, NOW + TTL);
    const [, expiry, nonce] = session.split(".") as [string, string, string, string];
    const extended = session.replace(`.${expiry}.`, `.${Number(expiry) + 1}.`);
    expect(await verifySession(TOKEN, extended, NOW, TTL)).toBe(false);
    expect(await verifySession(TOKEN, `v2${session.slice(2)}`, NOW, TTL)).toBe(false);
    const nonceAt = session.indexOf(nonce);
    expect(await verifySession(TOKEN, flip(session, nonceAt + 3), NOW, TTL)).toBe(false);
    for (let i = session.lastIndexOf(".") + 1; i < session.length; i++) {
      expect(await verifySession(TOKEN, flip(session, i), NOW, TTL)).toBe(false);
    }
  });

  it("refuses malformed values without throwing", async () => {
    const session = await signSession(TOKEN, NOW + TTL);
    for (const bad of [
      "",
      "v1",
      TOKEN,
      "v1...",
      `${session}.`,
      `${session}A`,
      session.slice(0, -1),
      ` ${session}`,
      "v1.1.AAAAAAAAAAAAAAAAAAAAAA.%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%",
    ]) {
      expect(await verifySession(TOKEN, bad, NOW, TTL)).toBe(false);
    }
    expect(await new AdminSessions(TOKEN, TTL, () => NOW).verify(undefined)).toBe(false);
  });

  it("refuses a session that outlives the configured TTL (lowering the TTL shortens old sessions)", async () => {
    const long = await signSession(TOKEN, NOW + 30 * 86_400);
    expect(await verifySession(TOKEN, long, NOW, 30 * 86_400)).toBe(true);
    expect(await verifySession(TOKEN, long, NOW, TTL)).toBe(false);
  });
});
