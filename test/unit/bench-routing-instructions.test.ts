// The bench's routing cost in instructions (scripts/bench/routing-instructions.ts): the added
// instructions priced at the one-pool server's µs per instruction, and the target line it makes.
import { describe, expect, it } from "vitest";
import {
  addedMicroseconds,
  type RoutingInstructions,
  routingInstructionMarkdown,
  routingInstructionTargets,
} from "../../scripts/bench/routing-instructions.ts";

const counted = (
  onePool: number[],
  routed: number[],
  runtime: RoutingInstructions["runtime"] = "node",
): RoutingInstructions => ({
  runtime,
  requests: 1_000,
  onePool,
  routed,
  idlePerSecond: { onePool: 50_000, routed: 70_000 },
});

describe("routing cost in instructions", () => {
  it("prices the added instructions at the one-pool server's rate", () => {
    // 400k instructions cost 100 µs, so 8k more cost 2 µs.
    expect(addedMicroseconds(counted([390_000, 410_000], [405_000, 419_000]), 100)).toBeCloseTo(3, 10);
    expect(addedMicroseconds(counted([400_000], [392_000]), 100)).toBeCloseTo(-2, 10);
  });

  it("meets the 5 µs target at or under it and misses it above", () => {
    const [under] = routingInstructionTargets(counted([400_000], [420_000]), 100);
    expect(under).toMatchObject({ met: true });
    expect(under!.value).toContain("+5.00 µs");
    const [over] = routingInstructionTargets(counted([400_000], [420_400]), 100);
    expect(over).toMatchObject({ met: false });
    expect(over!.value).toContain("+20400 of 400000 instructions per request, 5.10%");
  });

  it("makes no target without the paired timing, and says so in the table", () => {
    expect(routingInstructionTargets(counted([400_000], [420_000]), undefined)).toEqual([]);
    expect(routingInstructionTargets(undefined, 100)).toEqual([]);
    const markdown = routingInstructionMarkdown(counted([400_000], [420_000]), undefined).join("\n");
    expect(markdown).toContain("| one pool | 400000 | 400000 |");
    expect(markdown).toContain("No paired CPU timing");
  });

  it("names the runtime and the V8 flags that hold it to the baseline tiers", () => {
    const workerd = routingInstructionMarkdown(counted([700_000], [716_000], "workerd"), 166).join("\n");
    expect(workerd).toContain("## Routing cost in instructions (workerd, callgrind)");
    expect(workerd).toContain("`--predictable --no-opt --no-maglev`");
    const [target] = routingInstructionTargets(counted([700_000], [716_000], "workerd"), 166);
    expect(target!.target).toMatch(/^workerd: /);
    expect(target!.value).toContain("+3.79 µs");
  });
});
