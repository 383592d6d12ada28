// The dashboard as an operator meets it, in Debian's Chromium driven by playwright-core, against
// the Node CLI and against workerd (miniflare): /_lb/ leads to the sign-in page, the token signs
// in, traffic makes the charts draw lines, drain changes the backend's row within 3 s, and the
// page logs no console error (a Content-Security-Policy violation would be one). A screenshot
// of each lands in dist/test-output/ for a person to look at.
//
// Without /usr/bin/chromium the suite is skipped with a hint, except under CI=true, where it
// fails (.ci/run installs the package when it is missing).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { ROOT, type RunningServer, startServer } from "../support/runtimes.ts";
import { backendsOf, startUpstreams } from "../support/upstreams.ts";
import { ADMIN_TOKEN, startWorker, type WorkerInstance } from "../support/worker.ts";

const CHROMIUM = "/usr/bin/chromium";
const HINT = "Chromium not found at /usr/bin/chromium; install it with: apt-get install -y chromium";
const OUTPUT = join(ROOT, "dist", "test-output");

function describeWithChromium(name: string, fn: () => void): void {
  if (existsSync(CHROMIUM)) {
    describe(name, fn);
    return;
  }
  if (process.env.CI === "true") {
    describe(name, () => {
      it("needs Chromium", () => {
        throw new Error(`${HINT} (CI=true: the browser test must not be skipped)`);
      });
    });
    return;
  }
  console.warn(`[skipped] ${HINT}`);
  // Skipped only without Chromium and outside CI (under CI=true the suite fails instead, above).
  describe.skip(`${name} (skipped: ${HINT})`, fn);
}

interface Target {
  readonly runtime: "node" | "workerd";
  /** The balancer's origin as the browser reaches it. */
  readonly url: string;
  readonly upstreams: Upstream[];
  stop(): Promise<void>;
}

async function nodeTarget(): Promise<Target> {
  const upstreams = await startUpstreams(["a", "b"]);
  const lb: RunningServer = await startServer("node", [`--backends=${backendsOf(upstreams)}`], {
    ADMIN_TOKEN,
    LOG_REQUESTS: "false",
  });
  return {
    runtime: "node",
    url: lb.url,
    upstreams,
    stop: async () => {
      await lb.stop();
      await Promise.all(upstreams.map((u) => u.close()));
    },
  };
}

async function workerdTarget(): Promise<Target> {
  const upstreams = await startUpstreams(["a", "b"]);
  const worker: WorkerInstance = await startWorker({ BACKENDS: backendsOf(upstreams), ADMIN_TOKEN });
  return {
    runtime: "workerd",
    // miniflare's own listener: the browser speaks HTTP to workerd through it.
    url: worker.url.origin,
    upstreams,
    stop: async () => {
      await worker.dispose();
      await Promise.all(upstreams.map((u) => u.close()));
    },
  };
}

/**
 * Per chart, the canvas pixels in a strong colour: the series' lines and points (the palette in
 * dashboard-script.ts), not the axes, ticks and grid, which are black and greys.
 */
function seriesPixels(page: Page): Promise<Record<string, number>> {
  return page.evaluate(() => {
    const counts: Record<string, number> = {};
    for (const box of document.querySelectorAll<HTMLElement>("[data-chart]")) {
      const canvas = box.querySelector("canvas");
      if (!canvas) continue;
      const pixels = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < pixels.length; i += 4) {
        const [r, g, b, a] = [pixels[i]!, pixels[i + 1]!, pixels[i + 2]!, pixels[i + 3]!];
        if (a > 200 && Math.max(r, g, b) - Math.min(r, g, b) > 80) n++;
      }
      counts[box.dataset["chart"]!] = n;
    }
    return counts;
  });
}

describeWithChromium("the dashboard in Chromium", () => {
  let context: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), "edge-lb-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1400, height: 900 },
    });
  });
  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it.each([
    ["node", nodeTarget],
    ["workerd", workerdTarget],
  ] as const)("%s: sign in, live charts, drain from the table, no console errors", async (runtime, start) => {
    const target = await start();
    await context.clearCookies();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page: ${error.message}`));
    let traffic: Promise<void> | undefined;
    let trafficOn = true;
    try {
      // Without a session, /_lb/ is the sign-in page.
      await page.goto(`${target.url}/_lb/`);
      expect(new URL(page.url()).pathname).toBe("/_lb/login");
      await page.fill('input[name="token"]', ADMIN_TOKEN);
      await Promise.all([page.waitForURL(`${target.url}/_lb/`), page.click("button")]);
      await page.waitForSelector('section.pool[data-pool="default"] tbody tr');

      // Traffic while the page polls: bounded in count (at most 400) and time (20 s).
      traffic = (async () => {
        const until = Date.now() + 20_000;
        for (let i = 0; i < 400 && trafficOn && Date.now() < until; i++) {
          await fetch(`${target.url}/traffic/${i}`).then((r) => r.arrayBuffer());
          if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      // Two polls with traffic between them give each chart a point; a line needs two points,
      // so three polls (the page counts its points in data-points).
      const points = page.locator('section.pool[data-pool="default"] .charts');
      await expect
        .poll(async () => Number(await points.getAttribute("data-points")), { timeout: 15_000, interval: 250 })
        .toBeGreaterThanOrEqual(2);
      await expect
        .poll(async () => seriesPixels(page), { timeout: 15_000, interval: 250 })
        .toEqual({ rps: expect.any(Number), errors: expect.any(Number), latency: expect.any(Number) });
      await expect
        .poll(async () => Object.entries(await seriesPixels(page)).filter(([, n]) => n < 40), {
          timeout: 15_000,
          interval: 250,
        })
        .toEqual([]);
      trafficOn = false;
      await traffic;

      const name = new URL(target.upstreams[1]!.url).host;
      const admin = page.locator(`tr[data-backend="${name}"] td[data-field="admin"]`);
      await expect.poll(() => admin.textContent()).toBe("enabled");
      await page.click(`tr[data-backend="${name}"] button[data-action="drain"]`);
      await expect.poll(() => admin.textContent(), { timeout: 3_000, interval: 100 }).toMatch(/^drained/);
      expect(problems).toEqual([]);
    } finally {
      // After the drain, or wherever a failure stopped it: what a person would have seen.
      await page.screenshot({ path: join(OUTPUT, `dashboard-${runtime}.png`), fullPage: true }).catch(() => undefined);
      trafficOn = false;
      await traffic?.catch(() => undefined);
      await page.close();
      await target.stop();
    }
  });
});
