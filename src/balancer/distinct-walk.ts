import type { Backend } from "../shared/backend.ts";

/**
 * Yields list[first], then the distinct backends that `step(1..maxSteps)` lands on, then any
 * not met yet in list order: a bounded walk that always covers everyone exactly once.
 */
export function* distinctWalk(
  list: readonly Backend[],
  first: number,
  step: (index: number) => number,
  maxSteps: number,
): Generator<Backend> {
  const n = list.length;
  yield list[first]!;
  if (n === 1) return;
  const seen = new Uint8Array(n);
  seen[first] = 1;
  let remaining = n - 1;
  for (let i = 1; i <= maxSteps && remaining > 0; i++) {
    const index = step(i);
    if (seen[index]) continue;
    seen[index] = 1;
    remaining--;
    yield list[index]!;
  }
  for (let index = 0; index < n && remaining > 0; index++) {
    if (seen[index]) continue;
    remaining--;
    yield list[index]!;
  }
}
