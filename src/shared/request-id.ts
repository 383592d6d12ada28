/**
 * One id per request, to follow it from the client through the balancer to the backend's log:
 * the client's own when it is a sane token, else a fresh UUID. Read once from one header; a UUID
 * is made only when none usable came.
 */

/** The header that carries it (lower case) and this request's value. */
export interface RequestId {
  readonly header: string;
  readonly value: string;
}

/** Longer ids are replaced: an id is a key for log search, not a place to carry data. */
export const MAX_REQUEST_ID_LENGTH = 128;

/** `presented` if it is 1-128 visible ASCII characters (0x21-0x7E), else a new random UUID. */
export function requestIdOf(presented: string | null | undefined): string {
  return presented && isSaneId(presented) ? presented : crypto.randomUUID();
}

export function isSaneId(value: string): boolean {
  if (value.length === 0 || value.length > MAX_REQUEST_ID_LENGTH) return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x21 || code > 0x7e) return false;
  }
  return true;
}
