// Shared builders for the balancer unit tests (not a test file itself).
import type { SelectionInput, Selector } from "../../src/balancer/types.ts";
import type { Backend, LatencyEstimate, LoadView } from "../../src/shared/backend.ts";
import { intBetween } from "../support/prng.ts";

export function backend(name: string, weight = 1): Backend {
  return { name, url: `http://${name}.test:80`, weight, backup: false };
}

/** backends("a", "b", ["c", 3]): names with optional weights. */
export function backends(...specs: (string | readonly [string, number])[]): Backend[] {
  return specs.map((spec) => (typeof spec === "string" ? backend(spec) : backend(...spec)));
}

/** n backends named b0..b{n-1}, with weights from `weightOf`. */
export function numbered(n: number, weightOf: (i: number) => number = () => 1): Backend[] {
  return Array.from({ length: n }, (_, i) => backend(`b${i}`, weightOf(i)));
}

export function loadView(
  inflight: Readonly<Record<string, number>> = {},
  latency: Readonly<Record<string, LatencyEstimate>> = {},
): LoadView {
  return {
    inflight: (name) => inflight[name] ?? 0,
    latency: (name) => latency[name],
  };
}

export function input(overrides: Partial<SelectionInput> = {}): SelectionInput {
  return {
    seq: 0,
    key: "203.0.113.7",
    load: loadView(),
    random: () => 0,
    now: 1_700_000_000_000,
    ...overrides,
  };
}

export function names(selector: Selector, selection: SelectionInput): string[] {
  return [...selector.candidates(selection)].map((b) => b.name);
}

export function first(selector: Selector, selection: SelectionInput): string | undefined {
  for (const b of selector.candidates(selection)) return b.name;
  return undefined;
}

export function randomIPv4(random: () => number): string {
  return Array.from({ length: 4 }, () => intBetween(random, 0, 255)).join(".");
}

/** How often each value occurs. */
export function tally<T>(values: Iterable<T>): Map<T, number> {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}
