import { defineConfig } from "vitest/config";

// Two projects: `npm run test:unit` (pure modules, seconds) and `npm run test:integration` (real
// workerd, Node/Bun/Deno processes, redis-server). `npm test` runs both.
export default defineConfig({
  test: {
    pool: "forks",
    // Vitest's default is one worker fewer than the cores: one on a 2-core CI machine, where the
    // integration files spend most of their time waiting on sockets and timers. Three were tried:
    // no faster (379 s against 375 s) and the timing-sensitive suites failed, so two.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default", ["json", { outputFile: "dist/test-results.json" }]],
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["test/unit/**/*.test.ts"] },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts", "test/conformance/**/*.test.ts", "test/property/**/*.test.ts"],
          // One Worker bundle for every miniflare-based suite, built before any of them starts.
          globalSetup: ["test/support/global-setup.ts"],
        },
      },
    ],
  },
});
