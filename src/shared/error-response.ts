/** Every answer the balancer itself gives is JSON {"error", "reason"}, never an HTML page. */
export function errorResponse(status: number, error: string, reason: string): Response {
  return new Response(JSON.stringify({ error, reason }), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}
