import { buildWorker } from "../../scripts/build-worker.ts";

// One bundle for every miniflare-based suite, built before any of them starts.
export default async function setup(): Promise<void> {
  await buildWorker();
}
