// The bench's WebSocket rows, run after the HTTP rows: echo round trips straight to one upstream
// (ws-direct), then through the balancer (round robin, memory store) in each runtime of the run.
// A row that cannot be measured (no WebSocket support, a failed handshake) is recorded as failed
// and the bench goes on.

import { cpuTicks, TICKS_PER_SECOND } from "./processes.ts";
import type { BenchResults } from "./report.ts";
import {
  type BenchEnv,
  balancerRow,
  DIRECT_ROW,
  type RowSpec,
  type Running,
  type Runtime,
  startRow,
} from "./targets.ts";
import {
  MESSAGE_BYTES,
  openWebSocketClients,
  type WebSocketClients,
  type WebSocketLoadResult,
  type WebSocketLoadSpec,
} from "./websocket-load.ts";
import type { WebSocketLoad, WebSocketRowResult } from "./websocket-report.ts";

export const WEBSOCKET_CLIENTS = 16;

function loadSettings(mode: BenchResults["mode"]): { warmup: WebSocketLoadSpec; measure: WebSocketLoadSpec } {
  switch (mode) {
    case "full":
      return { warmup: { durationS: 3 }, measure: { durationS: 10 } };
    case "quick":
      return { warmup: { durationS: 0.5 }, measure: { durationS: 1 } };
    case "tiny":
      return { warmup: { messages: 50 }, measure: { messages: 200 } };
  }
}

/** The rows: ws-direct first (the ratios' base), then one balancer row per runtime. */
export function webSocketPlan(runtimes: readonly Runtime[]): RowSpec[] {
  return [
    { ...DIRECT_ROW, id: "ws-direct" },
    ...runtimes.map((runtime) => {
      const row = balancerRow(runtime, "round-robin", "memory");
      return { ...row, id: `ws-${row.id}` };
    }),
  ];
}

/** The row's listener as a WebSocket URL; the upstreams echo on any path. */
function webSocketUrl(running: Running): string {
  const url = new URL("/ws", running.url);
  url.protocol = "ws:";
  return url.href;
}

interface Measured {
  readonly load: WebSocketLoadResult;
  readonly cpuUs: number | undefined;
}

async function measureRow(
  row: RowSpec,
  env: BenchEnv,
  clientCount: number,
  settings: ReturnType<typeof loadSettings>,
): Promise<Measured> {
  let running: Running | undefined;
  let clients: WebSocketClients | undefined;
  try {
    running = await startRow(row, env);
    clients = await openWebSocketClients(webSocketUrl(running), clientCount);
    await clients.run(settings.warmup);
    const ticksBefore = running.proc ? cpuTicks(running.proc.pid) : 0;
    const load = await clients.run(settings.measure);
    const cpuUs = running.proc
      ? ((cpuTicks(running.proc.pid) - ticksBefore) / TICKS_PER_SECOND / Math.max(1, load.messages)) * 1e6
      : undefined;
    if (load.messages === load.errors) throw new Error(`no message came back (${load.errors} failed)`);
    return { load, cpuUs };
  } finally {
    await clients?.close();
    await running?.stop();
  }
}

export async function runWebSocketRows(options: {
  readonly mode: BenchResults["mode"];
  readonly runtimes: readonly Runtime[];
  readonly env: BenchEnv;
  readonly log: (line: string) => void;
  /** Failures and errors are noted here. */
  readonly notes: string[];
  readonly clients?: number;
}): Promise<{ rows: WebSocketRowResult[]; load: WebSocketLoad }> {
  const { log, notes } = options;
  const clients = options.clients ?? WEBSOCKET_CLIENTS;
  const settings = loadSettings(options.mode);
  const plan = webSocketPlan(options.runtimes);
  const per =
    settings.measure.durationS !== undefined
      ? `${settings.measure.durationS} s`
      : `${settings.measure.messages} messages`;
  log(`${plan.length} WebSocket echo rows, ${clients} clients, ${MESSAGE_BYTES}-byte messages, ${per} each:`);

  const rows: WebSocketRowResult[] = [];
  let direct: WebSocketLoadResult | undefined;
  for (const row of plan) {
    const base = { id: row.id, runtime: row.runtime, what: row.what };
    const rowStarted = Date.now();
    try {
      const { load, cpuUs } = await measureRow(row, options.env, clients, settings);
      if (row.kind === "direct") direct = load;
      const balancer = row.kind === "balancer";
      rows.push({
        ...base,
        ...load,
        vsDirect: balancer && direct ? load.messagesPerSecond / direct.messagesPerSecond : null,
        cpuUsPerMessage: cpuUs ?? null,
      });
      log(
        `  ${row.id.padEnd(22)} ${Math.round(load.messagesPerSecond).toString().padStart(7)} msg/s  p50 ${load.p50Ms.toFixed(2)} ms  p99 ${load.p99Ms.toFixed(2)} ms` +
          (cpuUs !== undefined ? `  CPU ${Math.round(cpuUs)} µs/msg` : "") +
          (load.errors ? `  errors ${load.errors}` : "") +
          `  (${((Date.now() - rowStarted) / 1000).toFixed(1)} s)`,
      );
      if (load.errors > 0) notes.push(`${row.id}: ${load.errors} of ${load.messages} echoes failed or never came`);
    } catch (error) {
      const message = (error as Error).message;
      rows.push({
        ...base,
        messages: 0,
        errors: 0,
        durationS: 0,
        messagesPerSecond: 0,
        p50Ms: 0,
        p99Ms: 0,
        vsDirect: null,
        cpuUsPerMessage: null,
        failed: message,
      });
      log(`  ${row.id.padEnd(22)} FAILED: ${message.split("\n").slice(0, 6).join("\n    ")}`);
      notes.push(`${row.id} failed: ${message.split("\n")[0]}`);
    }
  }
  const warmup = settings.warmup;
  return {
    rows,
    load: {
      clients,
      messageBytes: MESSAGE_BYTES,
      durationS: settings.measure.durationS ?? null,
      messages: settings.measure.messages ?? null,
      warmup: warmup.durationS !== undefined ? `${warmup.durationS} s` : `${warmup.messages}-message`,
    },
  };
}
