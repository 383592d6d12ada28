// The report's cell formats and Markdown tables: the Markdown shows exactly these formats, and
// the parser reads the tables back (the bench test checks that JSON and Markdown agree).

export const DASH = "—";
export const fmt = {
  int: (n: number) => String(Math.round(n)),
  ms: (n: number) => n.toFixed(2),
  signedMs: (n: number | null) => (n === null ? DASH : `${n >= 0 ? "+" : "−"}${Math.abs(n).toFixed(2)}`),
  trips: (n: number | null) => (n === null ? DASH : n.toFixed(4)),
  mib: (n: number | null) => (n === null ? DASH : n.toFixed(1)),
  us: (n: number | null) => (n === null ? DASH : String(Math.round(n))),
  ratio: (n: number | null) => (n === null ? DASH : n.toFixed(2)),
  mpicks: (n: number) => (n / 1e6).toFixed(2),
};

/** Inverse of the formats above: a number, or null for the dash. */
export function parseCell(cell: string): number | null {
  const text = cell.trim();
  if (text === DASH) return null;
  const value = Number(text.replace(/^\+/, "").replace(/^−/, "-"));
  if (Number.isNaN(value)) throw new Error(`not a number: "${cell}"`);
  return value;
}

/** A Markdown table; columns rightFrom..rightTo-1 are right-aligned. */
export function table(
  columns: readonly string[],
  rows: readonly string[][],
  rightFrom: number,
  rightTo = columns.length,
): string {
  const header = `| ${columns.join(" | ")} |`;
  const rule = `| ${columns.map((_, i) => (i >= rightFrom && i < rightTo ? "---:" : "---")).join(" | ")} |`;
  return [header, rule, ...rows.map((cells) => `| ${cells.join(" | ")} |`)].join("\n");
}

/** Reads the Markdown table under `heading` back as cells (header row first). */
export function parseTable(markdown: string, heading: string): string[][] {
  const lines = markdown.split("\n");
  const start = lines.indexOf(heading);
  if (start === -1) throw new Error(`no "${heading}" section`);
  const rows: string[][] = [];
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line.startsWith("## ")) break;
    if (!line.startsWith("|")) {
      if (rows.length) break;
      continue;
    }
    const cells = line
      .slice(1, -1)
      .split("|")
      .map((c) => c.trim());
    if (cells.every((c) => /^-+:?$/.test(c))) continue;
    rows.push(cells);
  }
  return rows;
}
