/**
 * Where the balancer's own lines go. Every line is text (the seed's format); a state change or a
 * failed attempt also comes as an event, its structured form, which the JSON log format writes
 * instead of the text. Callers that only print lines can ignore the second argument.
 */
export type Log = (line: string, event?: LogEvent) => void;

export type LogEventKind =
  | "up"
  | "down"
  | "ejected"
  | "drained"
  | "disabled"
  | "enabled"
  | "store_degraded"
  | "store_recovered"
  | "attempt_failed";

export interface LogEvent {
  readonly event: LogEventKind;
  readonly pool?: string;
  readonly backend?: string;
  /** The backend's URL (for the operator: clients never see it). */
  readonly url?: string;
  readonly reason?: string;
  readonly store?: string;
  readonly request_id?: string;
  /** A failed attempt's kind: unreachable, failed, timeout or status. */
  readonly kind?: string;
}
