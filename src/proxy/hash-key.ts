import type { HashKey } from "../pool/pool-runtime.ts";

/** The ip-hash key: client IP, or a header or cookie value, falling back to the client IP. */
export function hashKeyOf(request: Request, source: HashKey, clientIp: string | undefined): string {
  if (source.source === "header") return request.headers.get(source.name) ?? clientIp ?? "";
  if (source.source === "cookie") return cookieValue(request.headers.get("cookie"), source.name) ?? clientIp ?? "";
  return clientIp ?? "";
}

export function cookieValue(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
