// `npm run simulate [-- --quick] [--out=DIR] [--only=scale,failover,...]`: runs the scenario
// families (scenarios.ts), writes one SVG chart per view and the tables (results.md) to DIR:
// docs/scale for the full run, dist/scale-quick for --quick unless --out says otherwise.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chartsOf, svgOf } from "./charts.ts";
import { resultsDocument } from "./report.ts";
import { runScenario, type SimResult } from "./scenario.ts";
import { families } from "./scenarios.ts";

const { values } = parseArgs({
  options: { quick: { type: "boolean" }, out: { type: "string" }, only: { type: "string" } },
  strict: true,
});
const quick = values.quick === true;
const out = values.out ?? (quick ? "dist/scale-quick" : "docs/scale");
const only = values.only?.split(",");
mkdirSync(out, { recursive: true });

const started = performance.now();
const sections: { family: ReturnType<typeof families>[number]; results: SimResult[] }[] = [];
for (const family of families(quick)) {
  if (only && !only.includes(family.id)) continue;
  const results: SimResult[] = [];
  for (const scenario of family.runs) {
    const result = await runScenario(scenario);
    results.push(result);
    console.log(
      `${family.id}: ${scenario.name}: ${result.storeCallsPerS.toFixed(1)} store calls/s, ` +
        `${result.requests} requests, ${(result.wallMs / 1000).toFixed(1)} s`,
    );
  }
  sections.push({ family, results });
  for (const [name, spec] of Object.entries(chartsOf(family, results))) {
    writeFileSync(join(out, `${name}.svg`), await svgOf(spec));
  }
}
writeFileSync(join(out, "results.md"), resultsDocument(sections, quick));
console.log(`wrote ${out}/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);
