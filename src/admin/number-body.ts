import { errorResponse } from "../shared/error-response.ts";
import { readBoundedText } from "./bounded-body.ts";

/** An admin action's body is one small JSON object (`{"weight": 1000}` is 16 bytes). */
export const ACTION_BODY_LIMIT = 1024;

/** Why an action's body was refused, in the terms a caller can act on. */
export interface BodyRefusal {
  readonly field: string;
  /** What was sent for it (absent when it was missing or could not be read). */
  readonly value?: unknown;
  readonly expected: string;
}

export type ParsedNumber =
  | { readonly ok: true; readonly value: number }
  | { readonly ok: false; readonly refusal: BodyRefusal };

export interface NumberField {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Used when the body is empty; undefined: the field is required. */
  readonly fallback?: number;
}

const refuse = (refusal: BodyRefusal): ParsedNumber => ({ ok: false, refusal });

/**
 * The one whole number an action's body carries (`{"seconds": 30}`), or what is wrong with it.
 * Strict: another field (a typo, a drain's "seconds" sent to /weight) is refused rather than
 * ignored, so nothing is half-applied.
 */
export function parseNumberBody(text: string, field: NumberField): ParsedNumber {
  const expectedValue = `an integer from ${field.min} to ${field.max}`;
  const expectedBody = `a JSON object {"${field.name}": N}, N ${expectedValue}`;
  if (text.trim() === "" && field.fallback !== undefined) return { ok: true, value: field.fallback };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return refuse({ field: "body", expected: expectedBody });
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return refuse({ field: "body", value: body, expected: expectedBody });
  }
  const record = body as Record<string, unknown>;
  const extra = Object.keys(record).find((key) => key !== field.name);
  if (extra !== undefined)
    return refuse({ field: extra, value: record[extra], expected: `no field but "${field.name}"` });
  const value = record[field.name];
  if (value === undefined) {
    return field.fallback === undefined
      ? refuse({ field: field.name, expected: expectedValue })
      : { ok: true, value: field.fallback };
  }
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < field.min || value > field.max) {
    return refuse({ field: field.name, value, expected: expectedValue });
  }
  return { ok: true, value };
}

/** The number `field` of the request's body, or the answer refusing it (400 naming field, value, expected; 413). */
export async function readNumberField(request: Request, field: NumberField): Promise<number | Response> {
  const body = await readBoundedText(request, ACTION_BODY_LIMIT);
  if (!body.ok) {
    return body.reason === "too_large"
      ? errorResponse(413, "payload_too_large", `an action's body is at most ${ACTION_BODY_LIMIT} bytes`)
      : errorResponse(400, "bad_request", "the body could not be read");
  }
  const parsed = parseNumberBody(body.text, field);
  return parsed.ok ? parsed.value : refused(parsed.refusal);
}

function refused(refusal: BodyRefusal): Response {
  const shown = "value" in refusal ? JSON.stringify(refusal.value) : "nothing";
  return new Response(
    JSON.stringify({
      error: "bad_request",
      reason: `${refusal.field}: got ${shown}, expected ${refusal.expected}`,
      ...refusal,
    }),
    { status: 400, headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" } },
  );
}
