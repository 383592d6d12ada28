import { startUpstream, type Upstream } from "../../scripts/upstream.ts";

export async function startUpstreams(names: readonly string[]): Promise<Upstream[]> {
  return Promise.all(names.map((name) => startUpstream({ name })));
}

export const backendsOf = (upstreams: readonly Upstream[]): string => upstreams.map((u) => u.url).join(",");

/** Tallies which upstream answered each response, by the x-upstream header. */
export function tally(responses: readonly Response[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const response of responses) {
    const name = response.headers.get("x-upstream") ?? `status ${response.status}`;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}
