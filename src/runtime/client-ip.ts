import { type Cidr, cidrContains, parseForwardedElement } from "../shared/ip-networks.ts";

/**
 * The client's address on a server runtime (Node, Bun, Deno): the socket peer, unless that peer
 * is a trusted proxy, in which case X-Forwarded-For is read from the right, skipping trusted
 * addresses, as nginx's `real_ip_recursive on` does. Pure: no I/O, no runtime APIs.
 * Addresses and networks are parsed by src/shared/ip-networks.ts.
 */

/** True when `address` (text, any form) lies inside one of `trusted`. */
export function isTrusted(address: string | undefined, trusted: readonly Cidr[]): boolean {
  if (address === undefined || trusted.length === 0) return false;
  const value = parseForwardedElement(address)?.value;
  return value !== undefined && trusted.some((cidr) => cidrContains(cidr, value));
}

/**
 * The client address for a request whose socket peer is `peer` and whose X-Forwarded-For
 * header (all fields joined with commas) is `forwardedFor`.
 *
 * - An untrusted (or unknown) peer is the client: its X-Forwarded-For is not believed.
 * - A trusted peer vouches for the element it appended, the right-most one. Walking leftwards,
 *   each trusted address vouches for the next; the first untrusted address is the client. If
 *   every element is trusted, the left-most is the client (nginx does the same).
 * - A malformed element stops the walk: the last address reached is the answer, because nothing
 *   trusted vouched for what stands left of the garbage.
 */
export function resolveClientIp(
  peer: string | undefined,
  forwardedFor: string | null | undefined,
  trusted: readonly Cidr[],
): string | undefined {
  if (!isTrusted(peer, trusted) || !forwardedFor) return peer;
  const elements = forwardedFor.split(",");
  let client = peer;
  for (let i = elements.length - 1; i >= 0; i--) {
    const element = elements[i]!.trim();
    if (element === "") continue;
    const parsed = parseForwardedElement(element);
    if (!parsed) return client;
    client = parsed.text;
    if (!trusted.some((cidr) => cidrContains(cidr, parsed.value))) return client;
  }
  return client;
}
