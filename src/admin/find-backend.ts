import type { PoolRuntime } from "../pool/pool-runtime.ts";
import { errorResponse } from "../shared/error-response.ts";

/**
 * The pool an admin action on backend `name` means. `/_lb/pools/<pool>/backends/<name>/...`
 * says it; the older `/_lb/backends/<name>/...` still works while the name is unique across
 * pools, and answers 409 naming the pools once it is not (acting on the wrong pool's backend
 * would drain something the operator did not mean).
 */
export function poolOfBackend(
  pools: readonly PoolRuntime[],
  poolName: string | undefined,
  name: string,
): PoolRuntime | Response {
  const has = (pool: PoolRuntime) => pool.spec.backends.some((b) => b.name === name);
  if (poolName !== undefined) {
    const pool = pools.find((p) => p.spec.name === poolName);
    if (!pool) return errorResponse(404, "not_found", `no pool named ${JSON.stringify(poolName)}`);
    return has(pool)
      ? pool
      : errorResponse(404, "not_found", `no backend named ${JSON.stringify(name)} in pool ${JSON.stringify(poolName)}`);
  }
  const holding = pools.filter(has);
  if (holding.length === 0) return errorResponse(404, "not_found", `no backend named ${JSON.stringify(name)}`);
  if (holding.length > 1) {
    const names = holding.map((p) => p.spec.name).join(", ");
    return errorResponse(
      409,
      "ambiguous_backend",
      `backend ${JSON.stringify(name)} is in pools ${names}: use /_lb/pools/<pool>/backends/${name}/...`,
    );
  }
  return holding[0]!;
}
