// What ten routes and three pools add per request, measured side by side: the one-pool server and
// the routed one run at once and take the load in turns (A B B A A B B A), so both see the same
// machine, the same warm caches and the same neighbours. Separate rows, minutes apart, differ by
// more than routing costs on a shared 2-core machine (±25 µs between quick runs). Run with the
// same server twice (A/A), eight turns of 2.5 s differed by up to 7 µs (user time: 6 µs).
import type { LoadGenerator, LoadSpec } from "./load.ts";
import { cpuTicks, TICKS_PER_SECOND } from "./processes.ts";
import type { TargetCheck } from "./report.ts";
import { type BenchEnv, type RowSpec, type Running, startRow } from "./targets.ts";

export interface RoutingPair {
  readonly runtime: string;
  /** CPU µs per request of the one-pool row's server and of the routed row's, over all turns. */
  readonly onePoolUs: number;
  readonly routedUs: number;
  /** The same, user time only: the process's own code, without the kernel's share of its sockets. */
  readonly onePoolUserUs?: number;
  readonly routedUserUs?: number;
  readonly requests: { readonly onePool: number; readonly routed: number };
  readonly turns: number;
}

const ORDER = [0, 1, 1, 0, 0, 1, 1, 0] as const;

export async function measureRoutingPair(
  onePool: RowSpec,
  routed: RowSpec,
  env: BenchEnv,
  load: { generator: LoadGenerator; warmer: LoadGenerator; warmup: LoadSpec; turnS: number; connections: number },
): Promise<RoutingPair> {
  const servers: Running[] = [];
  try {
    for (const row of [onePool, routed]) servers.push(await startRow(row, env));
    for (const server of servers) await load.warmer.run(server.url, load.warmup);
    const ticks = [0, 0];
    const userTicks = [0, 0];
    const requests = [0, 0];
    for (const which of ORDER) {
      const server = servers[which]!;
      const before = cpuTicks(server.proc!.pid);
      const userBefore = cpuTicks(server.proc!.pid, true);
      const result = await load.generator.run(server.url, { connections: load.connections, durationS: load.turnS });
      ticks[which]! += cpuTicks(server.proc!.pid) - before;
      userTicks[which]! += cpuTicks(server.proc!.pid, true) - userBefore;
      requests[which]! += result.requests;
    }
    const perRequest = (which: 0 | 1, counted = ticks) =>
      (counted[which]! / TICKS_PER_SECOND / Math.max(1, requests[which]!)) * 1e6;
    return {
      runtime: onePool.runtime,
      onePoolUs: perRequest(0),
      routedUs: perRequest(1),
      onePoolUserUs: perRequest(0, userTicks),
      routedUserUs: perRequest(1, userTicks),
      requests: { onePool: requests[0]!, routed: requests[1]! },
      turns: ORDER.length,
    };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

export function routingPairTargets(pairs: readonly RoutingPair[]): TargetCheck[] {
  return pairs.map((pair) => {
    const added = pair.routedUs - pair.onePoolUs;
    return {
      target: `${pair.runtime}: 10 routes and 3 pools add ≤ 5 µs CPU per request (the two servers in turns)`,
      value: `${added >= 0 ? "+" : ""}${added.toFixed(1)} µs (${pair.onePoolUs.toFixed(1)} → ${pair.routedUs.toFixed(1)} µs/req over ${pair.requests.onePool} and ${pair.requests.routed} requests)`,
      met: added <= 5,
    };
  });
}

const signed = (us: number) => `${us >= 0 ? "+" : ""}${us.toFixed(1)}`;

export function routingPairMarkdown(pairs: readonly RoutingPair[]): string[] {
  if (pairs.length === 0) return [];
  return [
    "## Routing cost, side by side",
    "",
    `Each runtime's \`-rr-memory\` and \`-rr-memory-routes\` servers run at once and take the load in turns (${ORDER.map((i) => "AB"[i]).join(" ")}), so the CPU µs/req of the two is measured under the same conditions; the rows above ran minutes apart.`,
    "",
    "| runtime | one pool CPU µs/req | 10 routes, 3 pools CPU µs/req | added µs/req | added, user time only |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...pairs.map(
      (p) =>
        `| ${p.runtime} | ${p.onePoolUs.toFixed(1)} | ${p.routedUs.toFixed(1)} | ${signed(p.routedUs - p.onePoolUs)} | ${p.routedUserUs === undefined ? "—" : signed(p.routedUserUs - p.onePoolUserUs!)} |`,
    ),
    "",
  ];
}
