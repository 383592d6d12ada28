import type { Tunnel, TunnelOptions } from "./websocket-connector.ts";

/**
 * A WebSocket relayed message by message, where the runtime offers only a WebSocket API on the
 * client's side (Workers' WebSocketPair, Bun's server.upgrade, Deno.upgradeWebSocket). Text stays
 * text and binary stays binary; a close's code and reason reach the other side. What such an API
 * does not expose cannot pass: ping and pong are answered by each hop itself, and extensions
 * (permessage-deflate) are negotiated per hop. Node tunnels bytes instead (src/runtime/node-tunnel.ts).
 */
export type RelayData = string | ArrayBuffer | ArrayBufferView;

/** One side of the relay, adapted from whatever WebSocket object the runtime has. */
export interface RelayPeer {
  send(data: RelayData): void;
  /** Starts the closing handshake; `code` undefined sends a close without a status. */
  close(code?: number, reason?: string): void;
  /** Drops the connection without a closing handshake (a peer that no longer answers). */
  terminate?(): void;
  /** Bytes handed to send() and not yet written; 0 where the runtime cannot tell. */
  bufferedAmount(): number;
  /** Stops reading this peer's messages, where the runtime can (a ws client can, a server-side WebSocket cannot). */
  pause?(): void;
  resume?(): void;
}

export type RelaySide = "client" | "upstream";

/** Above this many bytes queued to one side, the other side's reading pauses where it can. */
export const HIGH_WATER_BYTES = 4 * 1024 * 1024;
/** And resumes below this. */
const LOW_WATER_BYTES = 1024 * 1024;
/**
 * A side that cannot be paused and keeps sending to a peer that does not read: past this, the
 * relay closes both (1008) rather than hold the difference in memory.
 */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** After one side closed, the other gets this long to finish its closing handshake. */
const CLOSE_GRACE_MS = 3_000;
const BACKPRESSURE_POLL_MS = 10;

export class MessageRelay implements Tunnel {
  #lastMessageAt = Date.now();
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #drainTimer: ReturnType<typeof setInterval> | undefined;
  readonly #closed = { client: false, upstream: false };
  #closing = false;
  #ended = false;

  constructor(
    private readonly client: RelayPeer,
    private readonly upstream: RelayPeer,
    private readonly options: TunnelOptions,
  ) {
    if (options.idleTimeoutMs > 0) this.#armIdle(options.idleTimeoutMs);
  }

  /** A message arrived from `side`: it goes to the other side. */
  message(side: RelaySide, data: RelayData): void {
    if (this.#closing) return;
    this.#lastMessageAt = Date.now();
    const [source, target] = side === "client" ? [this.client, this.upstream] : [this.upstream, this.client];
    try {
      target.send(data);
    } catch {
      // The target is closing or gone; its close event ends the relay.
      return;
    }
    const queued = target.bufferedAmount();
    if (queued <= HIGH_WATER_BYTES) return;
    if (source.pause) this.#pauseUntilDrained(source, target);
    else if (queued > MAX_QUEUED_BYTES) this.close(1008, "peer is not reading");
  }

  /** `side` closed (its close event): the other side is closed with the same code and reason. */
  closed(side: RelaySide, code: number, reason: string): void {
    if (this.#closed[side]) return;
    this.#closed[side] = true;
    const other = side === "client" ? "upstream" : "client";
    if (!this.#closed[other]) {
      this.#closing = true;
      // A client that vanished is "going away"; an upstream that vanished is a bad gateway.
      const fallback = side === "client" ? 1001 : 1014;
      const peer = this.#peer(other);
      closePeer(peer, forwardableCode(code, fallback), reason);
      this.#graceTimer ??= setTimeout(() => this.#giveUp(), CLOSE_GRACE_MS);
      return;
    }
    this.#end();
  }

  /** Closes both sides (shutdown, idle cap, a peer not reading). */
  close(code: number, reason: string): void {
    if (this.#ended) return;
    this.#closing = true;
    for (const side of ["client", "upstream"] as const) {
      if (!this.#closed[side]) closePeer(this.#peer(side), code, reason);
    }
    this.#graceTimer ??= setTimeout(() => this.#giveUp(), CLOSE_GRACE_MS);
  }

  #peer(side: RelaySide): RelayPeer {
    return side === "client" ? this.client : this.upstream;
  }

  #giveUp(): void {
    for (const side of ["client", "upstream"] as const) {
      if (!this.#closed[side]) this.#peer(side).terminate?.();
    }
    this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#graceTimer);
    clearInterval(this.#drainTimer);
    this.options.onClosed();
  }

  /** One timer per relay, re-armed lazily: a message costs a clock read, not a timer. */
  #armIdle(ms: number): void {
    const due = this.#lastMessageAt + ms - Date.now();
    this.#idleTimer = setTimeout(
      () => {
        if (this.#ended) return;
        if (Date.now() - this.#lastMessageAt >= ms) this.close(1001, "idle timeout");
        else this.#armIdle(ms);
      },
      Math.max(due, 1),
    );
  }

  #pauseUntilDrained(source: RelayPeer, target: RelayPeer): void {
    if (this.#drainTimer) return;
    source.pause!();
    this.#drainTimer = setInterval(() => {
      if (target.bufferedAmount() > LOW_WATER_BYTES && !this.#ended) return;
      clearInterval(this.#drainTimer);
      this.#drainTimer = undefined;
      source.resume?.();
    }, BACKPRESSURE_POLL_MS);
  }
}

function closePeer(peer: RelayPeer, code: number | undefined, reason: string): void {
  try {
    if (code === undefined) peer.close();
    else peer.close(code, truncateReason(reason));
  } catch {
    peer.terminate?.();
  }
}

/**
 * The code to send on for a close received with `code`. 1005 (no status) goes on as a close
 * without one; 1006 and 1015 only describe a lost connection and may not be sent, nor may
 * 1004 or anything outside 1000-4999: those become `fallback`.
 */
export function forwardableCode(code: number, fallback: number): number | undefined {
  if (code === 1005) return undefined;
  if (code >= 3000 && code <= 4999) return code;
  if (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1006) return code;
  return fallback;
}

/** A close reason is at most 123 bytes of UTF-8 (RFC 6455 5.5: 125 with the code). */
function truncateReason(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= 123) return reason;
  let end = 123;
  // Back off to a character boundary (a continuation byte is 10xxxxxx).
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}
