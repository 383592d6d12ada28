// The two pages a browser sees: the sign-in form and the dashboard. Static strings, so nothing
// a client sends is ever reflected into them.
import { MAX_WEIGHT } from "../state/patch.ts";

const STYLE = `body{font:14px system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}
td,th{padding:.35rem .7rem;border-bottom:1px solid #ddd;text-align:left}.down,.ejected{color:#b00}
.drained,.disabled{color:#a60}button{margin-right:.3rem}code{background:#f4f4f4;padding:0 .2rem}`;

/** The sign-in form; `failed` adds the one thing a person needs to know after a wrong token. */
export function loginPage(failed = false): string {
  return `<!doctype html><meta charset="utf-8"><title>edge-lb admin</title><style>${STYLE}</style>
<h1>edge-lb</h1>${failed ? '<p class="down" role="alert">Wrong admin token. Try again.</p>' : ""}
<form method="post" action="/_lb/login"><label>Admin token
<input type="password" name="token" autofocus></label> <button>Sign in</button></form>`;
}

/**
 * Its script reads /_lb/status every 2 s and posts admin actions (a weight as JSON) with the
 * session cookie (the browser adds the Origin the server checks). A 401 means the session
 * expired: back to sign-in.
 */
export const DASHBOARD_PAGE = `<!doctype html><meta charset="utf-8"><title>edge-lb</title><style>${STYLE}</style>
<h1>edge-lb</h1><form method="post" action="/_lb/logout"><button>Sign out</button></form>
<p id="meta"></p><div id="pools"></div>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"})[c]);
async function act(name, action, body) {
  const init = body === undefined ? { method: "POST" }
    : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch("/_lb/backends/" + encodeURIComponent(name) + "/" + action, init);
  if (!response.ok) {
    const refusal = await response.json().catch(() => ({}));
    document.getElementById("meta").textContent = action + ": " + (refusal.reason || response.status);
  } else refresh();
}
async function refresh() {
  // Redrawing would wipe a weight being typed: wait until the field is left.
  if (document.activeElement && document.activeElement.matches("input[data-weight], input[data-drain]")) return;
  const response = await fetch("/_lb/status");
  if (response.status === 401) { location.href = "/_lb/login"; return; }
  if (!response.ok) { document.getElementById("meta").textContent = "status: " + response.status; return; }
  const status = await response.json();
  document.getElementById("meta").textContent = "instance " + status.instance + ", " + new Date().toLocaleTimeString();
  document.getElementById("pools").innerHTML = status.pools.map((pool) =>
    "<h2>" + esc(pool.name) + " <small>" + esc(pool.algorithm) + (pool.panic ? " — panic" : "") + "</small></h2>" +
    "<p>store <code>" + esc(pool.store.kind) + "</code>: " + pool.store.roundTrips + " round trips, " + pool.store.errors +
    " errors" + (pool.store.degraded ? " — <b class=down>degraded</b>" : "") + "</p>" +
    "<table><tr><th>backend</th><th>url</th><th>weight</th><th>health</th><th>admin</th><th>in flight</th><th>latency ms</th><th>affinity req/min</th><th></th></tr>" +
    pool.backends.map((b) => "<tr><td>" + esc(b.name) + (b.backup ? " (backup)" : "") + "</td><td>" + esc(b.url) + "</td><td>" + b.weight +
      (b.weight !== b.configured_weight ? " <small>(configured " + b.configured_weight + ")</small>" : "") +
      "</td><td class=" + esc(b.health) + ">" + esc(b.health) + (b.ejected_until ? " <span class=ejected>ejected</span>" : "") +
      (b.reason ? " <small>" + esc(b.reason) + "</small>" : "") + "</td><td class=" + esc(b.admin) + ">" + esc(b.admin) +
      (b.drain_until ? " <small>sessions for " + Math.max(0, Math.ceil((Date.parse(b.drain_until) - Date.now()) / 1000)) + " s</small>" : "") +
      "</td><td>" + b.inflight + "</td><td>" + (b.latency_ewma_ms ?? "") + "</td><td>" + b.affinity_requests_last_minute + "</td><td>" +
      " <input type=number min=0 step=1 size=4 placeholder=s data-drain=\\"" + esc(b.name) + "\\" aria-label=\\"seconds the drain keeps sessions of " + esc(b.name) + "\\">" +
      ["drain", "disable", "enable"].map((a) => "<button data-name=\\"" + esc(b.name) + "\\" data-action=" + a + ">" + a + "</button>").join("") +
      " <input type=number min=0 max=${MAX_WEIGHT} step=1 size=4 data-weight=\\"" + esc(b.name) + "\\" value=" + b.weight +
      " aria-label=\\"weight of " + esc(b.name) + "\\"><button data-name=\\"" + esc(b.name) + "\\" data-action=weight>set weight</button>" +
      "</td></tr>").join("") + "</table>").join("");
}
document.addEventListener("click", (e) => {
  const d = e.target.dataset;
  if (!d || !d.action) return;
  if (d.action === "drain") {
    const seconds = [...document.querySelectorAll("input[data-drain]")].find((i) => i.dataset.drain === d.name);
    // Empty: the drain keeps sessions for DRAIN_SECONDS.
    return act(d.name, "drain", seconds && seconds.value.trim() !== "" ? { seconds: Number(seconds.value) } : undefined);
  }
  if (d.action !== "weight") return act(d.name, d.action);
  const field = [...document.querySelectorAll("input[data-weight]")].find((i) => i.dataset.weight === d.name);
  // An empty field is sent as null (refused), not as Number("") = 0, which would stop the backend.
  act(d.name, "weight", { weight: field.value.trim() === "" ? null : Number(field.value) });
});
refresh();
setInterval(refresh, 2000);
</script>`;
