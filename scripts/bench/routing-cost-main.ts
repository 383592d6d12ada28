// Entry for the bench's routing micro-benchmark: bundled by esbuild (as the Node rows are) and run
// in its own node process, so it measures the shipped code, not tsx's transform of it.
import { measureRoutingCost } from "./routing-cost.ts";

const iterations = Number(process.argv[2] ?? 200_000);
console.log(JSON.stringify(await measureRoutingCost(iterations)));
process.exit(0);
