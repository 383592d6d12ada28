// Seeded randomness for the simulation: a run is a pure function of its parameters and seed.

/** mulberry32: small, fast, and good enough for arrival times and latency draws. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Exponential draw with the given mean (Poisson arrivals). */
export function exponential(random: () => number, mean: number): number {
  return -Math.log(1 - random()) * mean;
}

/** Standard normal draw (Box-Muller). */
function normal(random: () => number): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * A log-normal latency with the given median and 99th percentile (ms): a common shape for
 * network and service times, long-tailed but never negative.
 */
export function logNormal(random: () => number, medianMs: number, p99Ms: number): () => number {
  const sigma = Math.max(1e-9, Math.log(Math.max(p99Ms, medianMs) / medianMs) / 2.326);
  const mu = Math.log(medianMs);
  return () => Math.exp(mu + sigma * normal(random));
}
