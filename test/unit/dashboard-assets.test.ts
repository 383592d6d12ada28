// The dashboard's assets: uPlot as vendored matches the installed package (regenerate with
// `npx tsx scripts/vendor-uplot.ts` after bumping it), the pages reference only hashed asset
// URLs that the asset route serves, and nothing inline that the page's CSP would refuse.
import { readFileSync } from "node:fs";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { VENDORED_UPLOT, vendoredUplotSource } from "../../scripts/vendor-uplot.ts";
import { dashboardPage, loginPage } from "../../src/admin/dashboard.ts";
import { mountAssets, PAGE_SECURITY_HEADERS } from "../../src/admin/dashboard-assets.ts";
import { DASHBOARD_SCRIPT } from "../../src/admin/dashboard-script.ts";

describe("dashboard assets", () => {
  it("vendors the installed uPlot exactly", () => {
    expect(readFileSync(VENDORED_UPLOT, "utf8")).toBe(vendoredUplotSource());
  });

  it("serves every asset the pages name, hashed and cached, and nothing else", async () => {
    const app = new Hono();
    mountAssets(app);
    const urls = [...`${dashboardPage()}${loginPage()}`.matchAll(/(?:src|href)="(\/_lb\/assets\/[^"]+)"/g)].map(
      (m) => m[1]!,
    );
    expect(new Set(urls).size).toBe(3);
    for (const url of urls) {
      expect(url).toMatch(/^\/_lb\/assets\/(dashboard|uplot)\.[0-9a-f]{8}\.(js|css)$/);
      const response = await app.request(url);
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(response.headers.get("content-type")).toMatch(url.endsWith(".js") ? /^text\/javascript/ : /^text\/css/);
      expect((await response.text()).length).toBeGreaterThan(1_000);
    }
    expect((await app.request("/_lb/assets/dashboard.js")).status).toBe(404);
  });

  it("puts no inline script or style in the pages, and a policy that refuses them", () => {
    for (const html of [dashboardPage(), loginPage(), loginPage(true)]) {
      expect(html).not.toMatch(/<script>|<style|\sstyle=|\son[a-z]+=/i);
    }
    expect(PAGE_SECURITY_HEADERS["content-security-policy"]).toMatch(/script-src 'self';/);
    expect(PAGE_SECURITY_HEADERS["content-security-policy"]).not.toContain("unsafe");
    // The script builds its markup without inline styles or handlers either.
    expect(DASHBOARD_SCRIPT).not.toMatch(/\sstyle=|\son[a-z]+=|eval\(|new Function/);
    // Actions name the pool (issue 13), through one URL builder.
    expect(DASHBOARD_SCRIPT.match(/"\/_lb\/pools\/"/g)).toHaveLength(1);
    expect(DASHBOARD_SCRIPT).not.toContain('"/_lb/backends/"');
  });
});
