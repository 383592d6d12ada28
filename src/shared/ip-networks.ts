import { convertIPv4ToBinary, convertIPv6ToBinary, distinctRemoteAddr } from "hono/utils/ipaddr";

/**
 * IP addresses and networks, for TRUST_PROXY (validated with the config, matched by the server
 * runtimes). Every address is held as a 128-bit number; an IPv4 address is held as its
 * IPv4-mapped IPv6 form (::ffff:a.b.c.d), so "10.0.0.0/8" also matches a dual-stack socket's
 * "::ffff:10.1.2.3". CIDR matching is ours: hono/utils/ipaddr parses addresses only.
 */

export interface Cidr {
  /** The network as written, for messages. */
  readonly text: string;
  readonly base: bigint;
  /** Prefix length in the 128-bit space (an IPv4 /n is 96 + n). */
  readonly bits: number;
}

const MAPPED_PREFIX = 0xffffn << 32n;
const ALL_ONES = (1n << 128n) - 1n;

/** An IPv4 or IPv6 address as a 128-bit number (IPv4 as ::ffff:a.b.c.d), or undefined. */
export function parseIp(text: string): bigint | undefined {
  const trimmed = text.trim();
  // Hono's parser (hono/utils/ipaddr) does the work; it refuses leading zeros (010 is octal to
  // some parsers: ambiguous) and malformed groups by throwing.
  try {
    switch (distinctRemoteAddr(trimmed)) {
      case "IPv4":
        return MAPPED_PREFIX | convertIPv4ToBinary(trimmed);
      case "IPv6":
        return convertIPv6ToBinary(trimmed);
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/**
 * One X-Forwarded-For element as proxies write it: an address, "[v6]", "[v6]:port" or
 * "v4:port". Returns the bare address text and its value, or undefined when it is not one.
 */
export function parseForwardedElement(element: string): { text: string; value: bigint } | undefined {
  let text = element.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed) text = bracketed[1]!;
  else if (/^[\d.]+:\d{1,5}$/.test(text)) text = text.slice(0, text.indexOf(":"));
  const value = parseIp(text);
  return value === undefined ? undefined : { text, value };
}

/** "10.0.0.0/8", "2001:db8::/32", or a single address ("127.0.0.1" = /32, "::1" = /128). */
export function parseCidr(text: string): Cidr | undefined {
  const trimmed = text.trim();
  const slash = trimmed.indexOf("/");
  const addressText = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const isV6 = addressText.includes(":");
  const address = parseIp(addressText);
  if (address === undefined) return undefined;
  const max = isV6 ? 128 : 32;
  let prefix = max;
  if (slash !== -1) {
    const prefixText = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) return undefined;
    prefix = Number(prefixText);
    if (prefix > max) return undefined;
  }
  const bits = isV6 ? prefix : 96 + prefix;
  return { text: trimmed, base: address & maskOf(bits), bits };
}

function maskOf(bits: number): bigint {
  return bits === 0 ? 0n : (ALL_ONES << BigInt(128 - bits)) & ALL_ONES;
}

export function cidrContains(cidr: Cidr, address: bigint): boolean {
  return (address & maskOf(cidr.bits)) === cidr.base;
}

export type TrustProxyParse = { ok: true; cidrs: readonly Cidr[] } | { ok: false; bad: string };

/** TRUST_PROXY / --trust-proxy: a comma list of CIDRs or addresses; empty means trust none. */
export function parseTrustProxy(value: string): TrustProxyParse {
  const cidrs: Cidr[] = [];
  for (const item of value.split(",").map((s) => s.trim())) {
    if (item === "") continue;
    const cidr = parseCidr(item);
    if (!cidr) return { ok: false, bad: item };
    cidrs.push(cidr);
  }
  return { ok: true, cidrs };
}

export const TRUST_PROXY_EXPECTED =
  "a comma list of IPv4/IPv6 networks or addresses, e.g. 10.0.0.0/8,192.168.1.7,fd00::/8,::1";
