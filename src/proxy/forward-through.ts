// The proxy's attempt through a runtime's own client (UpstreamFetch.send: Node's node-upstream.ts,
// which carries this as its `forward`). Kept out of forward.ts so that the Worker, whose fetch
// has no `send`, does not load it: its startup modules are held to 150 KB (worker-size.test.ts).

import { upstreamUrl } from "../shared/backend.ts";
import type { UpstreamFetch } from "../shared/upstream-fetch.ts";
import {
  type ClientGoneWatch,
  classifyFailure,
  type ForwardOptions,
  type ForwardResult,
  startTimer,
} from "./forward.ts";
import { forwardingHeaderList } from "./forwarding-headers.ts";

/**
 * The same attempt through a runtime's own client (UpstreamFetch.send): the header list built in
 * one pass, no AbortController of our own, and the response passed on with only its id added.
 */
export async function forwardThrough(
  send: NonNullable<UpstreamFetch["send"]>,
  options: ForwardOptions,
): Promise<ForwardResult> {
  const { backend, request } = options;
  const headers = forwardingHeaderList(request, options, options.body);
  const call = send(upstreamUrl(backend, options.target), { method: request.method, headers, body: options.body });
  let timedOut = false;
  const stopTimer = startTimer(options, () => {
    timedOut = true;
    call.abort(new Error("upstream timeout"));
  });
  const unwatch = watchClient(request, options.client.watchGone, (reason) => call.abort(reason));
  const started = performance.now();
  try {
    const response = await call.response;
    response.headers.set(options.requestId.header, options.requestId.value);
    return { kind: "response", response, latencyMs: performance.now() - started, declaredLength: call.declaredLength };
  } catch (error) {
    if (timedOut) return { kind: "timeout", reason: `no response within ${options.timeoutMs} ms` };
    return classifyFailure(error);
  } finally {
    stopTimer();
    unwatch();
  }
}

/**
 * Calls `gone` once if the client goes away: through the runtime's watch where it has one (on
 * Node, reading request.signal costs an AbortController per request), else the request's signal.
 */
function watchClient(request: Request, watch: ClientGoneWatch | undefined, gone: (reason: Error) => void): () => void {
  if (watch) return watch(() => gone(new Error("the client went away")));
  const signal = request.signal;
  const onAbort = () => gone(signal.reason instanceof Error ? signal.reason : new Error("the client went away"));
  if (signal.aborted) {
    onAbort();
    return () => undefined;
  }
  signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
}
