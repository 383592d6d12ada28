// --help is generated from the one settings table; the README's configuration table is written
// by hand. Both must name the same settings, and where the README shows a default it must be
// the schema's.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { settingDefault } from "../../src/config/setting-defaults.ts";
import { SETTINGS } from "../../src/config/settings.ts";
import { usage } from "../../src/runtime/cli.ts";

interface ReadmeRow {
  readonly variables: string[];
  readonly flags: string[];
  readonly defaultCell: string;
}

/** The rows of the table under "## Configuration" that starts with "| variable | flag |". */
function readmeRows(): ReadmeRow[] {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("## Configuration"));
  const table = section.slice(section.indexOf("| variable | flag | default | meaning |"));
  const rows: ReadmeRow[] = [];
  for (const line of table.split("\n").slice(2)) {
    if (!line.startsWith("|")) break;
    const cells = line.split(/(?<!\\)\|/).map((cell) => cell.trim());
    const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
    rows.push({ variables: names(cells[1]!), flags: names(cells[2]!), defaultCell: cells[3]! });
  }
  return rows;
}

describe("--help and the README's configuration table", () => {
  const help = usage();
  const rows = readmeRows();

  it("the README's table has a row for every setting, and --help names everything in the table", () => {
    expect(rows.length).toBeGreaterThan(40);
    const readmeVariables = new Set(rows.flatMap((row) => row.variables));
    const readmeFlags = new Set(rows.flatMap((row) => row.flags.map((flag) => flag.replace(/=.*$/, ""))));
    for (const setting of SETTINGS) {
      if (setting.env) expect(readmeVariables, `README lacks ${setting.env}`).toContain(setting.env);
      if (setting.flag) expect(readmeFlags, `README lacks --${setting.flag}`).toContain(`--${setting.flag}`);
    }
    for (const name of [...readmeVariables, ...readmeFlags]) {
      expect(help, `--help lacks ${name}`).toMatch(new RegExp(`(^|\\s)${name.replace(/[-]/g, "\\-")}(\\s|=|,|$)`, "m"));
    }
  });

  it("each setting's line in --help carries its variable and the schema's default, the README the same default", () => {
    for (const setting of SETTINGS) {
      const line = help
        .split("\n")
        .find((l) => (setting.flag ? l.startsWith(`  --${setting.flag} `) : l.includes(` ${setting.env} `)));
      expect(line, `no line for ${setting.flag ?? setting.env}`).toBeDefined();
      if (setting.env) expect(line).toContain(setting.env);
      expect(line!.trimEnd().endsWith(settingDefault(setting))).toBe(true);
      const row = rows.find((r) =>
        setting.env ? r.variables.includes(setting.env) : r.flags.includes(`--${setting.flag}`),
      );
      // The README's default cell, without its code marks, is --help's default.
      expect(row!.defaultCell.replace(/`/g, ""), `README default of ${setting.env ?? setting.flag}`).toBe(
        settingDefault(setting),
      );
    }
  });

  it("reads its defaults from the schema", () => {
    const timeout = SETTINGS.find((s) => s.env === "TIMEOUT_MS")!;
    expect(settingDefault(timeout)).toBe("30000");
    expect(settingDefault(SETTINGS.find((s) => s.env === "HEALTH_CHECK_STATUS")!)).toBe("2xx");
    expect(settingDefault(SETTINGS.find((s) => s.env === "LOG_FORMAT")!)).toBe("text");
    expect(settingDefault(SETTINGS.find((s) => s.env === "REQUEST_ID_HEADER")!)).toBe("x-request-id");
  });
});
