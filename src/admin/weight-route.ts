import type { Context, Hono } from "hono";
import type { PoolRuntime } from "../pool/pool-runtime.ts";
import { errorResponse } from "../shared/error-response.ts";
import { MAX_WEIGHT } from "../state/patch.ts";
import { poolOfBackend } from "./find-backend.ts";
import {
  ACTION_BODY_LIMIT,
  type BodyRefusal,
  type NumberField,
  parseNumberBody,
  readNumberField,
} from "./number-body.ts";

/** `{"weight": 1000}` is 16 bytes; the limit leaves room for whitespace and nothing else. */
export const WEIGHT_BODY_LIMIT = ACTION_BODY_LIMIT;

export const WEIGHT_FIELD: NumberField = { name: "weight", min: 0, max: MAX_WEIGHT };

export type ParsedWeight =
  | { readonly ok: true; readonly weight: number }
  | { readonly ok: false; readonly refusal: BodyRefusal };

/** The weight a body asks for, or what is wrong with it (strict: no other field). */
export function parseWeightBody(text: string): ParsedWeight {
  const parsed = parseNumberBody(text, WEIGHT_FIELD);
  return parsed.ok ? { ok: true, weight: parsed.value } : parsed;
}

/**
 * POST /_lb/backends/:name/weight with {"weight": N}: replaces the backend's configured weight
 * on every instance (each applies it at its next sync). Stored before it is confirmed. Mounted
 * behind the admin gate, before the generic actions.
 */
export function mountWeight(app: Hono, pools: readonly PoolRuntime[]): void {
  const setWeight = async (c: Context, poolName: string | undefined) => {
    const name = c.req.param("name")!;
    const pool = poolOfBackend(pools, poolName, name);
    if (pool instanceof Response) return pool;
    const weight = await readNumberField(c.req.raw, WEIGHT_FIELD);
    if (weight instanceof Response) return weight;
    const configured = pool.spec.backends.find((b) => b.name === name)!.weight;
    try {
      await pool.state.write(name, { weight });
    } catch (error) {
      return errorResponse(503, "store_unavailable", `the change was not stored: ${(error as Error).message}`);
    }
    return c.json({ pool: pool.spec.name, backend: name, weight, configured_weight: configured });
  };
  app.post("/_lb/backends/:name/weight", (c) => setWeight(c, undefined));
  app.post("/_lb/pools/:pool/backends/:name/weight", (c) => setWeight(c, c.req.param("pool")));
}
