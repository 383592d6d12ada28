// The bench's feature costs in instructions (scripts/bench/feature-instructions.ts): routing's
// added instructions priced at the one-pool server's µs per instruction, the JSON log's as a req/s
// ratio, and the target lines they make.
import { describe, expect, it } from "vitest";
import {
  addedMicroseconds,
  type CountedFeature,
  type FeatureInstructions,
  featureInstructionMarkdown,
  featureInstructionTargets,
  throughputRatio,
} from "../../scripts/bench/feature-instructions.ts";

const counted = (
  base: number[],
  variant: number[],
  runtime: FeatureInstructions["runtime"] = "node",
  feature: CountedFeature = "routes",
): FeatureInstructions => ({
  runtime,
  feature,
  requests: 1_000,
  base,
  variant,
  idlePerSecond: { base: 50_000, variant: 70_000 },
});

describe("routing cost in instructions", () => {
  it("prices the added instructions at the one-pool server's rate", () => {
    // 400k instructions cost 100 µs, so 8k more cost 2 µs.
    expect(addedMicroseconds(counted([390_000, 410_000], [405_000, 419_000]), 100)).toBeCloseTo(3, 10);
    expect(addedMicroseconds(counted([400_000], [392_000]), 100)).toBeCloseTo(-2, 10);
  });

  it("meets the 5 µs target at or under it and misses it above", () => {
    const [under] = featureInstructionTargets(counted([400_000], [420_000]), 100);
    expect(under).toMatchObject({ met: true });
    expect(under!.value).toContain("+5.00 µs");
    const [over] = featureInstructionTargets(counted([400_000], [420_400]), 100);
    expect(over).toMatchObject({ met: false });
    expect(over!.value).toContain("+20400 of 400000 instructions per request, 5.10%");
  });

  it("makes no target without the paired timing, and says so in the table", () => {
    expect(featureInstructionTargets(counted([400_000], [420_000]), undefined)).toEqual([]);
    expect(featureInstructionTargets(undefined, 100)).toEqual([]);
    const markdown = featureInstructionMarkdown(counted([400_000], [420_000]), undefined).join("\n");
    expect(markdown).toContain("| one pool | 400000 | 400000 |");
    expect(markdown).toContain("no paired CPU timing");
  });

  it("names the runtime and the V8 flags that hold it to the baseline tiers", () => {
    const workerd = featureInstructionMarkdown(counted([700_000], [716_000], "workerd"), 166).join("\n");
    expect(workerd).toContain("## Routing cost in instructions (workerd, callgrind)");
    expect(workerd).toContain("`--predictable --no-opt --no-maglev`");
    const [target] = featureInstructionTargets(counted([700_000], [716_000], "workerd"), 166);
    expect(target!.target).toMatch(/^workerd: /);
    expect(target!.value).toContain("+3.79 µs");
  });
});

describe("JSON access log cost in instructions", () => {
  it("is the base's instructions over the variant's, shown but judging nothing (it understates the log)", () => {
    expect(throughputRatio(counted([1_800_000], [1_980_000], "node", "json"))).toBeCloseTo(1 / 1.1, 10);
    expect(featureInstructionTargets(counted([1_800_000], [1_999_000], "node", "json"), undefined)).toEqual([]);
    expect(featureInstructionTargets(counted([1_800_000], [2_001_000], "node", "json"), 100)).toEqual([]);
    const markdown = featureInstructionMarkdown(counted([1_800_000], [2_001_000], "node", "json"), 100).join("\n");
    expect(markdown).toContain("Added: 201000 instructions per request, 11.17 µs");
    expect(markdown).toContain("Not a target");
  });

  it("titles its table and names both servers", () => {
    const markdown = featureInstructionMarkdown(counted([700_000], [735_000], "workerd", "json"), 150).join("\n");
    expect(markdown).toContain("## JSON access log cost in instructions (workerd, callgrind)");
    expect(markdown).toContain("| no request log | 700000 | 700000 |");
    expect(markdown).toContain("| JSON access log | 735000 | 735000 |");
    expect(markdown).toContain("req/s at 0.952 × the base's");
  });
});
