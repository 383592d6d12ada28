// The dashboard's script, stylesheet and uPlot, served by the balancer itself under
// /_lb/assets/ (never from a CDN: the page must work where the balancer runs, Workers included,
// and its Content-Security-Policy allows only its own origin). Names carry a hash of the
// content, so the browser may keep them a year; a new release has new names.
//
// uPlot 1.6.32 (the charts): 51 KB minified, 22 KB gzipped; with the dashboard's own script and
// stylesheet, 66 KB. The bodies come from dashboard-sources.ts, which the Worker build swaps for
// Text modules: as JavaScript string constants they were a fifth of the Worker's entry module,
// and every new isolate compiled that module before its first request.
import type { Hono } from "hono";
import { DASHBOARD_SOURCES, type DashboardFile } from "./dashboard-sources.ts";

interface Asset {
  readonly body: string;
  readonly type: string;
}

const TYPES: Readonly<Record<string, string>> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

/** Hashed file name -> asset, and logical name -> its URL; made on first use, not at isolate start. */
let table: { byFile: Map<string, Asset>; urls: Record<string, string> } | undefined;

function assets() {
  if (!table) {
    const byFile = new Map<string, Asset>();
    const urls: Record<string, string> = {};
    for (const [name, body] of Object.entries(DASHBOARD_SOURCES)) {
      const dot = name.lastIndexOf(".");
      const asset = { body, type: TYPES[name.slice(dot + 1)]! };
      const file = `${name.slice(0, dot)}.${fnv1a(asset.body)}${name.slice(dot)}`;
      byFile.set(file, asset);
      urls[name] = `/_lb/assets/${file}`;
    }
    table = { byFile, urls };
  }
  return table;
}

/** Where the page finds `name` ("dashboard.js", "dashboard.css", "uplot.js"). */
export function assetUrl(name: DashboardFile): string {
  return assets().urls[name]!;
}

/**
 * GET /_lb/assets/<name>.<hash>.<ext>, before the admin gate: static files with nothing secret
 * in them, which the sign-in page needs before there is a session. Unknown names are 404.
 */
export function mountAssets(app: Hono): void {
  app.get("/_lb/assets/:file", (c) => {
    const asset = assets().byFile.get(c.req.param("file"));
    if (!asset) return c.json({ error: "not_found", reason: "no such asset" }, 404);
    return c.body(asset.body, 200, {
      "content-type": asset.type,
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
    });
  });
}

/**
 * The pages' policy: their own script and stylesheet only (no inline script or style, no eval),
 * fetch to their own origin, forms to their own origin, never framed.
 */
export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/** FNV-1a, 32 bits, as 8 hex digits: a cache-busting name, not a security property. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}
