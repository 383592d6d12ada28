import type { Backend } from "../shared/backend.ts";

/**
 * Power of two choices (Mitzenmacher), the pick least connections and least response time
 * share: sample two backends, take the cheaper. The first candidate costs two cost reads,
 * whatever the number of backends; only a caller that wants a third (a retry after both failed)
 * pays for reading and sorting the rest, cheapest first.
 */

/**
 * Two distinct indices in 0..n-1 (n >= 2), uniform over ordered pairs, from two draws. Exported
 * so tests can replay a draw and check the choice made from it.
 */
export function sampleTwo(n: number, random: () => number): readonly [number, number] {
  const first = draw(n, random);
  // Draw from the n-1 others and step over `first`, so the pair is distinct without retrying.
  let second = draw(n - 1, random);
  if (second >= first) second++;
  return [first, second];
}

// min() guards against a random() that returns 1: an out-of-range index would be a crash.
function draw(n: number, random: () => number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

/**
 * The candidates in two-choice order: the cheaper of a sampled pair, the other, then the rest.
 * `cost` is a module-level function and `context` its data, so a pick allocates no closure.
 */
export function* twoChoices<Context>(
  list: readonly Backend[],
  cost: (backend: Backend, context: Context) => number,
  context: Context,
  random: () => number,
): Generator<Backend> {
  const n = list.length;
  if (n === 0) return;
  if (n === 1) {
    yield list[0]!;
    return;
  }
  const [a, b] = sampleTwo(n, random);
  // On a tie the first draw wins, and the first draw is itself uniform: a random tie-break.
  const aFirst = cost(list[a]!, context) <= cost(list[b]!, context);
  yield list[aFirst ? a : b]!;
  yield list[aFirst ? b : a]!;
  if (n === 2) return;

  const rest: { index: number; cost: number }[] = [];
  for (let index = 0; index < n; index++) {
    if (index !== a && index !== b) rest.push({ index, cost: cost(list[index]!, context) });
  }
  // Array.prototype.sort is stable, so equal costs keep list order.
  rest.sort((x, y) => x.cost - y.cost);
  for (const { index } of rest) yield list[index]!;
}
