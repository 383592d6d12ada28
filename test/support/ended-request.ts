// An ended request for access-log tests: a fixed record with the given request id; `made` counts
// how many times its record was made.
import type { EndedRequest } from "../../src/proxy/request-trace.ts";

export const endedRequest = (requestId: string, made = { count: 0 }): EndedRequest => ({
  record: () => {
    made.count++;
    return {
      time: "2026-12-06T00:00:00.000Z",
      request_id: requestId,
      method: "GET",
      host: "lb.test",
      path: "/",
      status: 200,
      pool: "default",
      backend: "a",
      attempts: 1,
      upstream_ms: 1,
      total_ms: 2,
      bytes_in: 0,
      bytes_out: 5,
      client_ip: null,
    };
  },
});
