import { Hono } from "hono";
import { setCookie } from "hono/cookie";
import { errorResponse } from "../proxy/errors.ts";
import { ADMIN_COOKIE, tokenMatches } from "./auth.ts";

const STYLE = `body{font:14px system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}
td,th{padding:.35rem .7rem;border-bottom:1px solid #ddd;text-align:left}.down,.ejected{color:#b00}
.drained,.disabled{color:#a60}button{margin-right:.3rem}code{background:#f4f4f4;padding:0 .2rem}`;

const LOGIN_PAGE = `<!doctype html><meta charset="utf-8"><title>edge-lb admin</title><style>${STYLE}</style>
<h1>edge-lb</h1><form method="post" action="/_lb/login"><label>Admin token
<input type="password" name="token" autofocus></label> <button>Sign in</button></form>`;

/** Static page; its script reads /_lb/status every 2 s and posts admin actions (cookie auth). */
export const DASHBOARD_PAGE = `<!doctype html><meta charset="utf-8"><title>edge-lb</title><style>${STYLE}</style>
<h1>edge-lb</h1><p id="meta"></p><div id="pools"></div>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"})[c]);
async function act(name, action) {
  await fetch("/_lb/backends/" + encodeURIComponent(name) + "/" + action, { method: "POST" });
  refresh();
}
async function refresh() {
  const response = await fetch("/_lb/status");
  if (!response.ok) { document.getElementById("meta").textContent = "status: " + response.status; return; }
  const status = await response.json();
  document.getElementById("meta").textContent = "instance " + status.instance + ", " + new Date().toLocaleTimeString();
  document.getElementById("pools").innerHTML = status.pools.map((pool) =>
    "<h2>" + esc(pool.name) + " <small>" + esc(pool.algorithm) + (pool.panic ? " — panic" : "") + "</small></h2>" +
    "<p>store <code>" + esc(pool.store.kind) + "</code>: " + pool.store.roundTrips + " round trips, " + pool.store.errors +
    " errors" + (pool.store.degraded ? " — <b class=down>degraded</b>" : "") + "</p>" +
    "<table><tr><th>backend</th><th>url</th><th>weight</th><th>health</th><th>admin</th><th>in flight</th><th>latency ms</th><th></th></tr>" +
    pool.backends.map((b) => "<tr><td>" + esc(b.name) + (b.backup ? " (backup)" : "") + "</td><td>" + esc(b.url) + "</td><td>" + b.weight +
      "</td><td class=" + esc(b.health) + ">" + esc(b.health) + (b.ejected_until ? " <span class=ejected>ejected</span>" : "") +
      (b.reason ? " <small>" + esc(b.reason) + "</small>" : "") + "</td><td class=" + esc(b.admin) + ">" + esc(b.admin) +
      "</td><td>" + b.inflight + "</td><td>" + (b.latency_ewma_ms ?? "") + "</td><td>" +
      ["drain", "disable", "enable"].map((a) => "<button data-name=\\"" + esc(b.name) + "\\" data-action=" + a + ">" + a + "</button>").join("") +
      "</td></tr>").join("") + "</table>").join("");
}
document.addEventListener("click", (e) => { const d = e.target.dataset; if (d && d.action) act(d.name, d.action); });
refresh();
setInterval(refresh, 2000);
</script>`;

/**
 * The login form and POST /_lb/login, mounted before the token check: a correct token sets an
 * HttpOnly, SameSite=Strict cookie for /_lb, so the dashboard's own requests carry it.
 */
export function loginRoutes(token: string | undefined): Hono {
  const login = new Hono();
  const off = () => errorResponse(404, "not_found", "admin routes are off: set ADMIN_TOKEN to enable them");
  login.get("/login", (c) => (token ? c.html(LOGIN_PAGE) : off()));
  login.post("/login", async (c) => {
    if (!token) return off();
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const presented = typeof form["token"] === "string" ? form["token"] : "";
    if (!tokenMatches(presented, token)) return c.html(LOGIN_PAGE, 401);
    setCookie(c, ADMIN_COOKIE, presented, {
      path: "/_lb",
      httpOnly: true,
      sameSite: "Strict",
      secure: new URL(c.req.url).protocol === "https:",
    });
    return c.redirect("/_lb/", 303);
  });
  return login;
}
