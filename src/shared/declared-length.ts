/**
 * The byte length of a body passed on as it came: its Content-Length, unless a Content-Encoding
 * other than identity says the length is of an encoding (a re-encoded body's is not its bytes').
 * undefined when there is none, or it is not a plain decimal.
 */
export function declaredLength(
  contentLength: string | null | undefined,
  contentEncoding: string | null | undefined,
): number | undefined {
  if (contentLength == null || !/^\d{1,15}$/.test(contentLength)) return undefined;
  return contentEncoding == null || contentEncoding === "identity" ? Number(contentLength) : undefined;
}
