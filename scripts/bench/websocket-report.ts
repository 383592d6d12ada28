// The WebSocket echo rows in the bench's results: their JSON shape, their table's cells and the
// Markdown section that shows them (after the throughput table).

import { DASH, fmt, table } from "./cells.ts";
import type { WebSocketLoadResult } from "./websocket-load.ts";

/** One WebSocket row: what ran and the echo load's measurement of the warmed-up window. */
export interface WebSocketRowResult extends WebSocketLoadResult {
  /** "ws-direct", or "ws-<runtime>-rr-memory". */
  readonly id: string;
  readonly runtime: string;
  readonly what: string;
  /** messages/s ÷ messages/s of ws-direct in the same run (balancer rows). */
  readonly vsDirect: number | null;
  /** CPU time (user + system) of the server's process tree during the measured window ÷ messages, µs. */
  readonly cpuUsPerMessage: number | null;
  /** Set when the row could not be measured; the numbers are then 0. */
  readonly failed?: string;
}

export interface WebSocketLoad {
  readonly clients: number;
  readonly messageBytes: number;
  /** Per row: either a duration (s) or a message count (summed over the clients). */
  readonly durationS: number | null;
  readonly messages: number | null;
  readonly warmup: string;
}

export const WEBSOCKET_HEADING = "## WebSocket echo";

export const WEBSOCKET_COLUMNS = [
  "row",
  "runtime",
  "what",
  "msg/s",
  "p50 ms",
  "p99 ms",
  "÷ direct",
  "CPU µs/msg",
] as const;

export function webSocketCells(row: WebSocketRowResult): string[] {
  if (row.failed) {
    const why = `failed: ${row.failed.replace(/\|/g, "/").split("\n")[0]!.slice(0, 120)}`;
    return [row.id, row.runtime, row.what, why, DASH, DASH, DASH, DASH];
  }
  return [
    row.id,
    row.runtime,
    row.what,
    fmt.int(row.messagesPerSecond),
    fmt.ms(row.p50Ms),
    fmt.ms(row.p99Ms),
    fmt.ratio(row.vsDirect),
    fmt.us(row.cpuUsPerMessage),
  ];
}

/** The section's lines; none when the run measured no WebSocket row. */
export function webSocketMarkdown(rows: readonly WebSocketRowResult[], load: WebSocketLoad | undefined): string[] {
  if (!load || rows.length === 0) return [];
  const per =
    load.durationS !== null
      ? `${load.durationS} s per row after a ${load.warmup} warm-up`
      : `${load.messages} messages per row after a ${load.warmup} warm-up`;
  return [
    WEBSOCKET_HEADING,
    "",
    `${load.clients} WebSocket clients (the \`ws\` package, no compression), each sending a ${load.messageBytes}-byte binary message ` +
      `and waiting for its echo before the next (closed loop), ${per}; the upstreams echo every message.`,
    "",
    table(WEBSOCKET_COLUMNS, rows.map(webSocketCells), 3),
    "",
    "msg/s = echoed round trips per second over all clients; p50 and p99 = round-trip times; " +
      "÷ direct = msg/s ÷ msg/s of ws-direct (the clients straight to one upstream); " +
      "CPU µs/msg = user + system CPU time of the balancer's process tree during the measured window ÷ round trips (each relays two frames).",
    "",
  ];
}
