// Reads a V8 CPU profile (.cpuprofile: what node --cpu-prof, bun --cpu-prof and the inspector's
// Profiler.stop give) down to the functions that spent the most time themselves. Pure: the bench
// (profile.ts) and its unit test feed it profiles.

/** The parts of the .cpuprofile format this reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      /** 0-based; -1 when unknown. */
      readonly lineNumber: number;
    };
  }[];
  /** µs, on the profiled process's monotonic clock. */
  readonly startTime: number;
  readonly endTime: number;
  /** The node sampled at each tick. */
  readonly samples: readonly number[];
  /** µs since the previous sample (the first: since startTime). */
  readonly timeDeltas: readonly number[];
}

export interface HotFunction {
  /** functionName, or "(anonymous)". */
  readonly name: string;
  /** url:line (1-based), shortened to what follows the last node_modules/ or the project root; "" for V8's own entries. */
  readonly location: string;
  /** Time in the function itself (not its callees), ms: its samples × the sampling interval. */
  readonly selfMs: number;
  /** Its share of the non-idle samples, %. */
  readonly percent: number;
}

export interface ProfileSummary {
  /** Samples in the window that were not idle. */
  readonly samples: number;
  /** Their time, ms (samples × the sampling interval). */
  readonly busyMs: number;
  /** Samples in the window spent on the profiler's own work (`overhead`), left out of the rest. */
  readonly overheadSamples: number;
  readonly top: readonly HotFunction[];
}

/** V8's pseudo-node for a thread waiting on nothing: no CPU, so left out of the shares. */
const IDLE = "(idle)";

/**
 * The `count` functions with the most self time among the samples taken at or after `fromUs`
 * (the profile's own clock; default: every sample). Each sample counts one sampling interval
 * (as set, or the median gap between samples) rather than its own gap, as DevTools would: on a busy machine
 * a descheduled process leaves long gaps, which would credit the wait to whatever ran last.
 */
export function hottestFunctions(
  profile: CpuProfile,
  options: {
    fromUs?: number;
    count?: number;
    /** The sampling interval, µs (default: the median gap between samples). */
    intervalUs?: number;
    /** Frames that are the profiler's own cost (an inspector's events): counted apart. */
    overhead?: (frame: { functionName: string; url: string }) => boolean;
    /** Names a location (default: the url shortened, and the 1-based line). */
    locate?: (url: string, line: number) => string;
  } = {},
): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const gaps = profile.timeDeltas.slice(1);
  const interval = options.intervalUs ?? [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)] ?? 0;
  const totals = new Map<string, { name: string; location: string; samples: number }>();
  let at = profile.startTime;
  let samples = 0;
  let overheadSamples = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (options.fromUs !== undefined && at < options.fromUs) return;
    const frame = byId.get(id)?.callFrame;
    if (!frame || frame.functionName === IDLE) return;
    if (options.overhead?.(frame)) {
      overheadSamples += 1;
      return;
    }
    const name = frame.functionName || "(anonymous)";
    const line = frame.lineNumber + 1;
    const location = frame.url ? (options.locate?.(frame.url, line) ?? `${shortUrl(frame.url)}:${line}`) : "";
    const key = `${name}\u0000${location}`;
    const entry = totals.get(key) ?? { name, location, samples: 0 };
    entry.samples += 1;
    totals.set(key, entry);
    samples += 1;
  });
  const top = [...totals.values()]
    .sort((a, b) => b.samples - a.samples || a.name.localeCompare(b.name) || a.location.localeCompare(b.location))
    .slice(0, options.count ?? 5)
    .map((entry) => ({
      name: entry.name,
      location: entry.location,
      selfMs: (entry.samples * interval) / 1000,
      percent: samples ? (100 * entry.samples) / samples : 0,
    }));
  return { samples, busyMs: (samples * interval) / 1000, overheadSamples, top };
}

/** file:///…/node_modules/hono/dist/x.js → hono/dist/x.js. */
export function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, "");
  const modules = path.lastIndexOf("node_modules/");
  return modules === -1 ? path : path.slice(modules + "node_modules/".length);
}

/**
 * For a bundle esbuild made without minifying: each module's code follows a `// path` comment
 * line, so a bundle line names its source file. Returns the module path for a 1-based line.
 */
export function bundleModules(bundle: string): (line: number) => string | undefined {
  const starts: Array<{ line: number; path: string }> = [];
  bundle.split("\n").forEach((text, i) => {
    const match = /^\/\/ ((?:\.\.\/)*[\w@.-]+\/[^\s]+\.[cm]?[jt]sx?)$/.exec(text);
    if (match) starts.push({ line: i + 1, path: shortUrl(match[1]!.replace(/^(\.\.\/)+/, "")) });
  });
  return (line) => {
    let found: string | undefined;
    for (const start of starts) {
      if (start.line > line) break;
      found = start.path;
    }
    return found;
  };
}
