import { errorResponse } from "../shared/error-response.ts";
import { readBoundedText } from "./bounded-body.ts";

/** An admin action's body is one small JSON object. */
const ACTION_BODY_LIMIT = 1024;

/**
 * The whole number `field` of an admin action's JSON body (`{"seconds": 30}`), within min..max;
 * `fallback` when the body is empty or the field absent (undefined fallback: required). A bad
 * body, another field included, is a 400 naming the field, the value and what was expected.
 */
export async function readNumberField(
  request: Request,
  field: string,
  range: { readonly min: number; readonly max: number },
  fallback?: number,
): Promise<number | Response> {
  const body = await readBoundedText(request, ACTION_BODY_LIMIT);
  if (!body.ok) {
    return body.reason === "too_large"
      ? errorResponse(413, "payload_too_large", `the body is larger than ${ACTION_BODY_LIMIT} bytes`)
      : errorResponse(400, "bad_request", "the request body could not be read");
  }
  const expected = `expected {"${field}": a whole number from ${range.min} to ${range.max}}`;
  let value: unknown;
  if (body.text.trim() === "") value = undefined;
  else {
    try {
      const parsed = JSON.parse(body.text) as unknown;
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
        return errorResponse(400, "bad_request", `the body is not a JSON object: ${expected}`);
      const record = parsed as Record<string, unknown>;
      // Another field (a typo of the one meant) is refused rather than ignored for the fallback.
      const extra = Object.keys(record).find((key) => key !== field);
      if (extra !== undefined)
        return errorResponse(
          400,
          "bad_request",
          `${JSON.stringify(extra).slice(0, 40)} is not a field here: ${expected}`,
        );
      value = record[field];
    } catch {
      return errorResponse(400, "bad_request", `the body is not JSON: ${expected}`);
    }
  }
  if (value === undefined) {
    if (fallback !== undefined) return fallback;
    return errorResponse(400, "bad_request", `${field} is missing: ${expected}`);
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value < range.min || value > range.max) {
    return errorResponse(
      400,
      "bad_request",
      `${field} ${JSON.stringify(value)?.slice(0, 40)} is not valid: ${expected}`,
    );
  }
  return value;
}
