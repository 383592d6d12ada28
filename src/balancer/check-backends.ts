import type { Backend } from "../shared/backend.ts";

/**
 * Rejects backend lists the algorithms cannot serve correctly. Config validation should already
 * have caught these; the check is repeated here because a duplicate name would make exclusion by
 * name ambiguous and a zero or fractional weight would silently skew a schedule, and both are far
 * easier to diagnose at build time than as a mysteriously uneven distribution.
 */
export function checkBackends(backends: readonly Backend[], options: { readonly integerWeights?: boolean } = {}): void {
  const names = new Set<string>();
  for (const { name, weight } of backends) {
    if (names.has(name)) throw new RangeError(`duplicate backend name ${JSON.stringify(name)}`);
    names.add(name);
    const valid = options.integerWeights
      ? Number.isSafeInteger(weight) && weight > 0
      : Number.isFinite(weight) && weight > 0;
    if (!valid) {
      const expected = options.integerWeights ? "a positive integer" : "a positive number";
      throw new RangeError(`backend ${JSON.stringify(name)}: weight must be ${expected}, got ${String(weight)}`);
    }
  }
}
