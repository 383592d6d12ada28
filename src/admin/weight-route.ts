import type { Hono } from "hono";
import type { PoolRuntime } from "../pool/pool-runtime.ts";
import { errorResponse } from "../shared/error-response.ts";
import { MAX_WEIGHT } from "../state/patch.ts";
import { readBoundedText } from "./bounded-body.ts";

/** `{"weight": 1000}` is 16 bytes; the limit leaves room for whitespace and nothing else. */
export const WEIGHT_BODY_LIMIT = 1024;

const EXPECTED_WEIGHT = `an integer from 0 to ${MAX_WEIGHT}`;
const EXPECTED_BODY = `a JSON object {"weight": N}, N ${EXPECTED_WEIGHT}`;

/** Why a weight body was refused, in the terms a caller can act on. */
export interface WeightRefusal {
  readonly field: string;
  /** What was sent for it (absent when it was missing or could not be read). */
  readonly value?: unknown;
  readonly expected: string;
}

export type ParsedWeight =
  | { readonly ok: true; readonly weight: number }
  | { readonly ok: false; readonly refusal: WeightRefusal };

const refuse = (refusal: WeightRefusal): ParsedWeight => ({ ok: false, refusal });

/**
 * The weight a body asks for, or what is wrong with it. Strict: another field (a typo of
 * "weight", a drain's "seconds") is refused rather than ignored, so nothing is half-applied.
 */
export function parseWeightBody(text: string): ParsedWeight {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return refuse({ field: "body", expected: EXPECTED_BODY });
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return refuse({ field: "body", value: body, expected: EXPECTED_BODY });
  }
  const record = body as Record<string, unknown>;
  const extra = Object.keys(record).find((key) => key !== "weight");
  if (extra !== undefined) return refuse({ field: extra, value: record[extra], expected: `no field but "weight"` });
  const weight = record["weight"];
  if (weight === undefined) return refuse({ field: "weight", expected: EXPECTED_WEIGHT });
  if (typeof weight !== "number" || !Number.isSafeInteger(weight) || weight < 0 || weight > MAX_WEIGHT) {
    return refuse({ field: "weight", value: weight, expected: EXPECTED_WEIGHT });
  }
  return { ok: true, weight };
}

function refused(refusal: WeightRefusal): Response {
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

/**
 * POST /_lb/backends/:name/weight with {"weight": N}: replaces the backend's configured weight
 * on every instance (each applies it at its next sync). Stored before it is confirmed. Mounted
 * behind the admin gate, before the generic actions.
 */
export function mountWeight(app: Hono, pools: readonly PoolRuntime[]): void {
  app.post("/_lb/backends/:name/weight", async (c) => {
    const name = c.req.param("name");
    const pool = pools.find((p) => p.spec.backends.some((b) => b.name === name));
    if (!pool) return errorResponse(404, "not_found", `no backend named ${JSON.stringify(name)}`);
    const body = await readBoundedText(c.req.raw, WEIGHT_BODY_LIMIT);
    if (!body.ok) {
      return body.reason === "too_large"
        ? errorResponse(413, "payload_too_large", `a weight body is at most ${WEIGHT_BODY_LIMIT} bytes`)
        : errorResponse(400, "bad_request", "the body could not be read");
    }
    const parsed = parseWeightBody(body.text);
    if (!parsed.ok) return refused(parsed.refusal);
    const configured = pool.spec.backends.find((b) => b.name === name)!.weight;
    try {
      await pool.state.write(name, { weight: parsed.weight });
    } catch (error) {
      return errorResponse(503, "store_unavailable", `the change was not stored: ${(error as Error).message}`);
    }
    return c.json({ backend: name, weight: parsed.weight, configured_weight: configured });
  });
}
