import type { Defer } from "../shared/defer.ts";
import type { RequestId } from "../shared/request-id.ts";
import type { SessionAffinity } from "./affinity/session-affinity.ts";
import type { ClientConnection } from "./forward.ts";
import type { RequestTrace, SentWatch } from "./request-trace.ts";

/** What the app knows of one request before the proxy takes it: who sent it, and where to. */
export interface RequestContext {
  readonly client: ClientConnection;
  /** Canonical path and query (request-target.ts). */
  readonly target: string;
  /** Canonical host the client addressed (request-target.ts). */
  readonly host: string;
  /** MAX_REQUEST_BODY_BYTES; 0 = unlimited. */
  readonly maxBodyBytes: number;
  readonly defer: Defer;
  /** The name of the route that chose the pool (access log). */
  readonly route?: string;
  /** The pool's session affinity; undefined: none. */
  readonly affinity?: SessionAffinity;
  /** This request's id and the header that carries it (upstream, back, in logs and error bodies). */
  readonly requestId: RequestId;
  /** The JSON access log's record of this request; undefined when that log is off. */
  readonly trace?: RequestTrace;
  /**
   * Tells once the response has gone to the client (whole or broken off), where the server can
   * (Deno, Node): load-aware pools then count the request until then without a stream in the
   * body's way.
   */
  readonly sent?: SentWatch;
}
