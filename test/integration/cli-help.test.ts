// `--help` on each server runtime, as `npm run lb*` starts it: exit 0 and every setting's flag
// (the text itself is compared with the README in test/unit/cli-help.test.ts).
import { describe, expect, it } from "vitest";
import { SETTINGS } from "../../src/config/settings.ts";
import { runServer, SERVER_RUNTIMES } from "../support/runtimes.ts";

describe("--help", () => {
  it.each(SERVER_RUNTIMES)("%s: exits 0 and lists every setting with its variable", async (runtime) => {
    const result = await runServer(runtime, ["--help"]);
    expect(result.code, result.stderr).toBe(0);
    for (const setting of SETTINGS) {
      if (setting.flag) expect(result.stdout).toContain(`--${setting.flag} `);
      if (setting.env) expect(result.stdout).toContain(` ${setting.env} `);
    }
  });
});
