import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config/load-config.ts";
import { isTrusted, resolveClientIp } from "../../src/runtime/client-ip.ts";
import { readSettings } from "../../src/runtime/server.ts";
import {
  type Cidr,
  cidrContains,
  parseCidr,
  parseForwardedElement,
  parseIp,
  parseTrustProxy,
} from "../../src/shared/ip-networks.ts";

const cidrs = (text: string): readonly Cidr[] => {
  const parsed = parseTrustProxy(text);
  if (!parsed.ok) throw new Error(`bad test networks: ${parsed.bad}`);
  return parsed.cidrs;
};

describe("parseIp", () => {
  it("reads IPv4 as its IPv4-mapped IPv6 value", () => {
    expect(parseIp("127.0.0.1")).toBe((0xffffn << 32n) | 0x7f000001n);
    expect(parseIp("0.0.0.0")).toBe(0xffffn << 32n);
    expect(parseIp("255.255.255.255")).toBe((0xffffn << 32n) | 0xffffffffn);
    expect(parseIp("::ffff:127.0.0.1")).toBe(parseIp("127.0.0.1"));
    expect(parseIp("::FFFF:7f00:1")).toBe(parseIp("127.0.0.1"));
  });

  it("reads every IPv6 spelling to the same value", () => {
    expect(parseIp("::1")).toBe(1n);
    expect(parseIp("::")).toBe(0n);
    expect(parseIp("0:0:0:0:0:0:0:1")).toBe(1n);
    expect(parseIp("2001:db8::1")).toBe(parseIp("2001:0db8:0000:0000:0000:0000:0000:0001"));
    expect(parseIp("2001:DB8::")).toBe(0x20010db8n << 96n);
    expect(parseIp("1:2:3:4:5:6:7::")).toBe(parseIp("1:2:3:4:5:6:7:0"));
    expect(parseIp("fe80::1%eth0")).toBe(parseIp("fe80::1"));
    expect(parseIp("64:ff9b::192.0.2.33")).toBe((0x64ff9bn << 96n) | 0xc0000221n);
  });

  it("rejects what is not an address", () => {
    for (const bad of [
      "",
      "localhost",
      "256.0.0.1",
      "1.2.3",
      "1.2.3.4.5",
      "01.2.3.4",
      "1.2.3.-4",
      " 1 .2.3.4",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      ":::",
      "g::1",
      "12345::1",
      "1:2:3:4:5:6:7:8::",
      "::1.2.3",
      "1.2.3.4::",
      "unknown",
    ]) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });
});

describe("parseForwardedElement", () => {
  it("takes an address with or without a port or brackets", () => {
    expect(parseForwardedElement(" 203.0.113.9 ")?.text).toBe("203.0.113.9");
    expect(parseForwardedElement("203.0.113.9:4711")?.text).toBe("203.0.113.9");
    expect(parseForwardedElement("[2001:db8::7]")?.text).toBe("2001:db8::7");
    expect(parseForwardedElement("[2001:db8::7]:443")?.text).toBe("2001:db8::7");
    expect(parseForwardedElement("2001:db8::7")?.text).toBe("2001:db8::7");
    expect(parseForwardedElement("unknown")).toBeUndefined();
    expect(parseForwardedElement("_hidden")).toBeUndefined();
    expect(parseForwardedElement("[2001:db8::7")).toBeUndefined();
  });
});

describe("parseCidr and cidrContains", () => {
  const contains = (cidr: string, ip: string) => cidrContains(parseCidr(cidr)!, parseIp(ip)!);

  it("matches IPv4 networks, including a dual-stack socket's ::ffff: form", () => {
    expect(contains("10.0.0.0/8", "10.255.1.2")).toBe(true);
    expect(contains("10.0.0.0/8", "11.0.0.0")).toBe(false);
    expect(contains("10.0.0.0/8", "::ffff:10.9.9.9")).toBe(true);
    expect(contains("192.168.1.7", "192.168.1.7")).toBe(true);
    expect(contains("192.168.1.7", "192.168.1.8")).toBe(false);
    expect(contains("172.16.0.0/12", "172.31.255.255")).toBe(true);
    expect(contains("172.16.0.0/12", "172.32.0.0")).toBe(false);
    expect(contains("10.1.2.3/8", "10.200.0.1")).toBe(true); // host bits are ignored
  });

  it("keeps 0.0.0.0/0 to IPv4 and ::/0 to everything", () => {
    expect(contains("0.0.0.0/0", "198.51.100.1")).toBe(true);
    expect(contains("0.0.0.0/0", "2001:db8::1")).toBe(false);
    expect(contains("::/0", "2001:db8::1")).toBe(true);
    expect(contains("::/0", "198.51.100.1")).toBe(true);
  });

  it("matches IPv6 networks, and IPv4 through ::ffff:0:0/96", () => {
    expect(contains("::1", "::1")).toBe(true);
    expect(contains("::1", "::2")).toBe(false);
    expect(contains("2001:db8::/32", "2001:db8:ffff::1")).toBe(true);
    expect(contains("2001:db8::/32", "2001:db9::1")).toBe(false);
    expect(contains("fd00::/8", "fdff::1")).toBe(true);
    expect(contains("::ffff:0:0/96", "203.0.113.1")).toBe(true);
    expect(contains("::ffff:10.0.0.0/104", "10.3.2.1")).toBe(true);
  });

  it("refuses bad prefixes and addresses", () => {
    for (const bad of [
      "10.0.0.0/33",
      "::/129",
      "10.0.0.0/",
      "10.0.0.0/-1",
      "10.0.0.0/8/8",
      "10.0.0/8",
      "foo",
      "/8",
      "10.0.0.0/ 8",
    ]) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
  });
});

describe("parseTrustProxy", () => {
  it("reads a comma list, tolerating spaces and empty items", () => {
    const parsed = parseTrustProxy(" 10.0.0.0/8, ::1 ,,192.168.0.0/16 ");
    expect(parsed.ok && parsed.cidrs.map((c) => c.text)).toEqual(["10.0.0.0/8", "::1", "192.168.0.0/16"]);
    expect(parseTrustProxy("")).toEqual({ ok: true, cidrs: [] });
  });

  it("names the first bad item", () => {
    expect(parseTrustProxy("10.0.0.0/8,10.0.0.0/33,nope")).toEqual({ ok: false, bad: "10.0.0.0/33" });
  });
});

describe("resolveClientIp (nginx real_ip_recursive semantics)", () => {
  const trusted = cidrs("127.0.0.1/32,10.0.0.0/8,::1");

  it("believes no X-Forwarded-For when nothing is trusted", () => {
    expect(resolveClientIp("127.0.0.1", "6.6.6.6", [])).toBe("127.0.0.1");
  });

  it("ignores X-Forwarded-For from an untrusted peer", () => {
    expect(resolveClientIp("198.51.100.1", "6.6.6.6", trusted)).toBe("198.51.100.1");
    expect(resolveClientIp("::ffff:198.51.100.1", "6.6.6.6", trusted)).toBe("::ffff:198.51.100.1");
  });

  it("takes the element a trusted peer appended", () => {
    expect(resolveClientIp("127.0.0.1", "203.0.113.9", trusted)).toBe("203.0.113.9");
    expect(resolveClientIp("::ffff:127.0.0.1", "203.0.113.9", trusted)).toBe("203.0.113.9");
    expect(resolveClientIp("::1", "2001:db8::9", trusted)).toBe("2001:db8::9");
  });

  it("walks right to left over trusted hops to the first untrusted address", () => {
    expect(resolveClientIp("127.0.0.1", "6.6.6.6, 203.0.113.9, 10.0.0.2, 10.0.0.1", trusted)).toBe("203.0.113.9");
  });

  it("reads several X-Forwarded-For fields joined as one", () => {
    expect(resolveClientIp("127.0.0.1", "6.6.6.6, 203.0.113.9,10.0.0.2", trusted)).toBe("203.0.113.9");
  });

  it("takes the left-most element when every element is trusted", () => {
    expect(resolveClientIp("127.0.0.1", "10.0.0.3, 10.0.0.2", trusted)).toBe("10.0.0.3");
  });

  it("stops at a malformed element: the last address reached is the client", () => {
    expect(resolveClientIp("127.0.0.1", "203.0.113.9, garbage", trusted)).toBe("127.0.0.1");
    expect(resolveClientIp("127.0.0.1", "6.6.6.6, garbage, 10.0.0.2", trusted)).toBe("10.0.0.2");
    expect(resolveClientIp("127.0.0.1", "unknown, 203.0.113.9", trusted)).toBe("203.0.113.9");
  });

  it("strips ports and brackets, and skips empty elements", () => {
    expect(resolveClientIp("127.0.0.1", "203.0.113.9:5555", trusted)).toBe("203.0.113.9");
    expect(resolveClientIp("127.0.0.1", "[2001:db8::9]:443, ", trusted)).toBe("2001:db8::9");
  });

  it("keeps the peer when a trusted peer sent no header", () => {
    expect(resolveClientIp("127.0.0.1", null, trusted)).toBe("127.0.0.1");
    expect(resolveClientIp("127.0.0.1", "", trusted)).toBe("127.0.0.1");
    expect(resolveClientIp(undefined, "6.6.6.6", trusted)).toBeUndefined();
  });

  it("isTrusted reads the socket's own forms", () => {
    expect(isTrusted("::ffff:10.1.1.1", trusted)).toBe(true);
    expect(isTrusted("::1", trusted)).toBe(true);
    expect(isTrusted("::2", trusted)).toBe(false);
    expect(isTrusted(undefined, trusted)).toBe(false);
  });
});

describe("server settings: TRUST_PROXY and SHUTDOWN_TIMEOUT_MS", () => {
  const backends = "--backends=http://127.0.0.1:9";
  const problemsOf = (argv: string[], env: Record<string, string>) => {
    try {
      readSettings(argv, env);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    throw new Error("expected a ConfigError");
  };

  it("reads both from the environment, and flags win", () => {
    const fromEnv = readSettings([backends], { TRUST_PROXY: "10.0.0.0/8", SHUTDOWN_TIMEOUT_MS: "1500" });
    expect(fromEnv.trustedProxies.map((c) => c.text)).toEqual(["10.0.0.0/8"]);
    expect(fromEnv.shutdownTimeoutMs).toBe(1500);
    const fromFlags = readSettings([backends, "--trust-proxy=::1", "--shutdown-timeout-ms=0"], {
      TRUST_PROXY: "10.0.0.0/8",
    });
    expect(fromFlags.trustedProxies.map((c) => c.text)).toEqual(["::1"]);
    expect(fromFlags.shutdownTimeoutMs).toBe(0);
    const defaults = readSettings([backends], {});
    expect(defaults.trustedProxies).toEqual([]);
    expect(defaults.shutdownTimeoutMs).toBe(30_000);
  });

  it("names the flag or variable and the value of a bad network, beside other problems", () => {
    const problems = problemsOf([backends, "--algorithm=fastest-first"], { TRUST_PROXY: "10.0.0.0/8,300.1.1.1" });
    expect(problems.map((p) => p.field)).toEqual(["TRUST_PROXY", "--algorithm (pools[0].algorithm)"]);
    expect(problems[0]!.value).toBe("10.0.0.0/8,300.1.1.1");
    expect(problems[0]!.expected).toContain('"300.1.1.1"');
    const flag = problemsOf([backends, "--trust-proxy=10.0.0.0/33"], {});
    expect(flag[0]!.field).toBe("--trust-proxy");
    expect(new ConfigError(flag).message).toContain("10.0.0.0/33");
  });

  it("names a bad shutdown timeout", () => {
    // Named as every other setting is: the flag or variable, then the config path it sets.
    expect(problemsOf([backends, "--shutdown-timeout-ms=soon"], {})[0]!.field).toBe(
      "--shutdown-timeout-ms (shutdown_timeout_ms)",
    );
    expect(problemsOf([backends], { SHUTDOWN_TIMEOUT_MS: "-5" })[0]!.field).toBe(
      "SHUTDOWN_TIMEOUT_MS (shutdown_timeout_ms)",
    );
  });
});
