// The two pages a browser sees: the sign-in form and the dashboard. Static strings, so nothing
// a client sends is ever reflected into them; their script and style come from /_lb/assets/
// (dashboard-assets.ts), so their Content-Security-Policy allows nothing inline.
import { assetUrl } from "./dashboard-assets.ts";

const head = (title: string) =>
  `<!doctype html><html lang="en"><meta charset="utf-8"><title>${title}</title>` +
  `<link rel="stylesheet" href="${assetUrl("dashboard.css")}">`;

/** The sign-in form; `failed` adds the one thing a person needs to know after a wrong token. */
export function loginPage(failed = false): string {
  return `${head("edge-lb admin")}
<h1>edge-lb</h1>${failed ? '<p class="down" role="alert">Wrong admin token. Try again.</p>' : ""}
<form method="post" action="/_lb/login"><label>Admin token
<input type="password" name="token" autofocus></label> <button>Sign in</button></form>`;
}

/**
 * Per pool: live charts (requests per second and error rate per backend, the pool's p50 and
 * p99 latency, the last 5 minutes), the store's state, and the backends with their health,
 * admin state, weight and in-flight count, with drain / disable / enable / weight buttons.
 * The script (dashboard-script.ts) builds all of it from /_lb/status.
 */
export function dashboardPage(): string {
  return `${head("edge-lb")}
<script src="${assetUrl("uplot.js")}" defer></script><script src="${assetUrl("dashboard.js")}" defer></script>
<h1>edge-lb</h1><form method="post" action="/_lb/logout"><button>Sign out</button></form>
<p id="meta"></p><div id="pools"></div>`;
}
