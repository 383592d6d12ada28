import { buildWorker } from "../../scripts/build-worker.ts";
import { TEST_WORKER_DIR } from "./worker.ts";

// One build of the Worker for every miniflare-based suite, made before any of them starts.
export default async function setup(): Promise<void> {
  await buildWorker(TEST_WORKER_DIR);
}
