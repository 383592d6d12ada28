import type { Backend } from "../shared/backend.ts";
import { upstreamUrl } from "../shared/backend.ts";
import type { ProbeSpec } from "../shared/probe-spec.ts";

export interface ProbeResult {
  readonly passed: boolean;
  /** Why it failed, for the `<url> [down] (<reason>)` log line. */
  readonly reason: string;
}

/** An active HTTP check, as nginx's health_check / HAProxy's option httpchk run it. */
export async function probe(backend: Backend, spec: ProbeSpec, fetcher: typeof fetch = fetch): Promise<ProbeResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), spec.timeoutMs);
  try {
    const response = await fetcher(upstreamUrl(backend, spec.path), {
      method: spec.method,
      headers: { "user-agent": "edge-lb-health-check", ...spec.headers },
      signal: controller.signal,
      redirect: "manual",
    });
    if (!statusMatches(response.status, spec.expectedStatus)) {
      await response.body?.cancel();
      return { passed: false, reason: `status ${response.status}, expected ${spec.expectedStatus.join(" or ")}` };
    }
    if (spec.bodyContains !== undefined) {
      const text = await response.text();
      if (!text.includes(spec.bodyContains)) {
        return { passed: false, reason: `body lacks ${JSON.stringify(spec.bodyContains)}` };
      }
    } else {
      await response.body?.cancel();
    }
    return { passed: true, reason: `status ${response.status}` };
  } catch (error) {
    if (controller.signal.aborted) return { passed: false, reason: `no answer within ${spec.timeoutMs} ms` };
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
