// The bodies of the dashboard's three static files, by logical name. One module so the Worker
// build can put these bytes somewhere other than JavaScript: scripts/build-worker.ts replaces this
// module with one that imports each body from a Text module (dist/worker/*.txt), which workerd
// hands to the isolate as a string without parsing it. Node, Bun and Deno use this module as it
// is: a string constant in their own process costs them nothing per request or per isolate.
import { DASHBOARD_SCRIPT } from "./dashboard-script.ts";
import { UPLOT_CSS, UPLOT_JS } from "./vendor/uplot.ts";

const DASHBOARD_STYLE = `body{font:14px system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}
td,th{padding:.35rem .7rem;border-bottom:1px solid #ddd;text-align:left}.down,.ejected{color:#b00}.up{color:#070}
.drained,.disabled{color:#a60}button{margin-right:.3rem}code{background:#f4f4f4;padding:0 .2rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem;margin:.5rem 0 1rem}.chart{border:1px solid #eee;padding:.25rem}
section.pool{margin-bottom:2rem}td.actions{white-space:nowrap}input[type=number]{width:4.5em}
${UPLOT_CSS}`;

/** File name (its extension gives the content type) -> body. */
export const DASHBOARD_SOURCES = {
  "dashboard.js": DASHBOARD_SCRIPT,
  "dashboard.css": DASHBOARD_STYLE,
  "uplot.js": UPLOT_JS,
} as const satisfies Readonly<Record<string, string>>;

export type DashboardFile = keyof typeof DASHBOARD_SOURCES;
