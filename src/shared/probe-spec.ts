/**
 * An active health check as the health layer runs it and as a store that probes on its own
 * (the Durable Object's alarm) receives it. Converted once from the config (src/app.ts).
 */
export interface ProbeSpec {
  readonly path: string;
  readonly method: "GET" | "HEAD" | "OPTIONS";
  /** Status classes ("2xx") or exact codes ("204") that count as passing. */
  readonly expectedStatus: readonly string[];
  /** When set, the body must contain this text. */
  readonly bodyContains?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  /** Consecutive passes that bring a backend up. */
  readonly rise: number;
  /** Consecutive failures that take a backend down. */
  readonly fall: number;
}
