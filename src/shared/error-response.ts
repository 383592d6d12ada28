import type { RequestId } from "./request-id.ts";

/**
 * Every answer the balancer itself gives is JSON {"error", "reason"}, never an HTML page; one
 * given to a proxied request also carries its id, in the body and in the id's header.
 */
export function errorResponse(status: number, error: string, reason: string, requestId?: RequestId): Response {
  if (!requestId) {
    return new Response(JSON.stringify({ error, reason }), { status, headers: ERROR_HEADERS });
  }
  return new Response(JSON.stringify({ error, reason, request_id: requestId.value }), {
    status,
    headers: { ...ERROR_HEADERS, [requestId.header]: requestId.value },
  });
}

const ERROR_HEADERS = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" } as const;
