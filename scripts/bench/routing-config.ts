// The config of the `<runtime>-rr-memory-routes` rows: three pools and ten routes, where the
// bench's load (Host 127.0.0.1, GET /) matches only the last one. Every request is checked
// against all ten, and the catch-all steers between two pools (failover, fallback pool), so the
// row measures routing's whole cost beside the one-pool `<runtime>-rr-memory` row.

export function routedConfig(upstreams: readonly string[]) {
  const backends = (urls: readonly string[]) => urls.map((url) => ({ url }));
  return {
    log_requests: false,
    pools: [
      { name: "main", backends: backends(upstreams) },
      { name: "one", backends: backends(upstreams.slice(0, 1)) },
      { name: "two", backends: backends(upstreams.slice(1, 2)) },
    ],
    routes: [
      { match: { host: "api.example.com" }, pools: ["one"] },
      { match: { host: "*.static.example.com" }, pools: ["two"] },
      { match: { path_prefix: "/static" }, strip_prefix: true, pools: ["two"] },
      { match: { path_prefix: "/api/v1", method: "POST" }, pools: ["one"] },
      { match: { headers: { "x-canary": "1" } }, pools: ["one"] },
      { match: { host: "admin.example.com", path_prefix: "/internal" }, pools: ["two"] },
      { match: { path_prefix: "/images" }, pools: ["two"] },
      { match: { method: "DELETE" }, pools: ["one"] },
      { match: { headers: { "x-tenant": true } }, pools: ["two"] },
      { name: "default", pools: ["main", "one"], fallback_pool: "two" },
    ],
  };
}
