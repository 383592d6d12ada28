import { upstreamUrl } from "../shared/backend.ts";
import type { Backend } from "../shared/backend.ts";

/** An active HTTP check, as nginx's health_check / HAProxy's option httpchk configure it. */
export interface ProbeSpec {
  readonly path: string;
  readonly method: string;
  /** "2xx"-style classes and exact codes, e.g. ["2xx", "301"]. */
  readonly expected_status: readonly string[];
  readonly body_contains?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeout_ms: number;
}

export interface ProbeResult {
  readonly passed: boolean;
  /** Why it failed, for the `[down] (<reason>)` log line. */
  readonly reason: string;
}

export async function probe(backend: Backend, spec: ProbeSpec, fetcher: typeof fetch = fetch): Promise<ProbeResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), spec.timeout_ms);
  try {
    const response = await fetcher(upstreamUrl(backend, spec.path), {
      method: spec.method,
      headers: { "user-agent": "edge-lb-health-check", ...spec.headers },
      signal: controller.signal,
      redirect: "manual",
    });
    if (!statusMatches(response.status, spec.expected_status)) {
      await response.body?.cancel();
      return { passed: false, reason: `status ${response.status}, expected ${spec.expected_status.join(" or ")}` };
    }
    if (spec.body_contains !== undefined) {
      const text = await response.text();
      if (!text.includes(spec.body_contains)) {
        return { passed: false, reason: `body lacks ${JSON.stringify(spec.body_contains)}` };
      }
    } else {
      await response.body?.cancel();
    }
    return { passed: true, reason: `status ${response.status}` };
  } catch (error) {
    if (controller.signal.aborted) return { passed: false, reason: `no answer within ${spec.timeout_ms} ms` };
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return { passed: false, reason: cause ?? (error as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export function statusMatches(status: number, expected: readonly string[]): boolean {
  return expected.some((pattern) =>
    /^[1-5]xx$/i.test(pattern) ? Math.floor(status / 100) === Number(pattern[0]) : Number(pattern) === status,
  );
}
