import type { Config } from "../config/load-config.ts";
import { type AccessLog, recordEach } from "../proxy/request-trace.ts";
import { consoleRecord } from "../shared/console-record.ts";
import type { Log } from "../shared/log.ts";

/** How the runtime writes: text lines, and the JSON format's objects. */
export interface LogSinks {
  /** A text line (servers: the seed's timestamp prefix, written without blocking). */
  readonly line?: (line: string) => void;
  /** One JSON log object (Workers: console.log(object), which Workers Logs indexes; console-record.ts). */
  readonly record?: (record: object) => void;
  /** The access log, where the runtime keeps one of its own (servers: a line per request, written in batches). */
  readonly access?: AccessLog;
}

export interface Logging {
  /** State changes and failures: the text line, or with LOG_FORMAT=json its event as an object. */
  readonly log: Log;
  /** The text format's "Forwarding request to: <url>" per attempt. */
  readonly forwarding: boolean;
  /** The JSON format's access log: one record per finished request. */
  readonly access: AccessLog | undefined;
}

/**
 * LOG_FORMAT=text keeps the seed's lines as they were. json turns every line into an object: an
 * event as itself, any other line as {time, msg}, and each request, once it has ended, as its
 * access record. LOG_REQUESTS=false silences the per-request part of either.
 */
export function loggingOf(config: Pick<Config, "log_format" | "log_requests">, sinks: LogSinks): Logging {
  const line = sinks.line ?? ((text: string) => console.log(text));
  if (config.log_format === "text") return { log: line, forwarding: config.log_requests, access: undefined };
  const record = sinks.record ?? consoleRecord;
  const log: Log = (text, event) =>
    record(event ? { time: new Date().toISOString(), ...event } : { time: new Date().toISOString(), msg: text });
  return { log, forwarding: false, access: config.log_requests ? (sinks.access ?? recordEach(record)) : undefined };
}
