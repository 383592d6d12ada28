import type { Accepted, TunnelOptions } from "../proxy/websocket-connector.ts";
import { MessageRelay, type RelayData, type RelayPeer } from "../proxy/websocket-relay.ts";
import { errorResponse } from "../shared/error-response.ts";
import type { OpenUpstream } from "./ws-upstream.ts";

/** The client's WebSocket once it is open, as Bun and Deno adapters present it. */
export interface OpenSocket {
  send(data: RelayData): void;
  close(code?: number, reason?: string): void;
  terminate?(): void;
  bufferedAmount(): number;
}

/**
 * The client's side of a relay from the moment the relay exists, which is before the client's
 * socket is open: the 101 is still to be written (Bun's open comes inside server.upgrade,
 * Deno's once the handler's response has gone out). Messages and a close wait here until then,
 * and count as buffered so the relay's backpressure sees them.
 */
export class OpeningPeer implements RelayPeer {
  #socket: OpenSocket | undefined;
  #queue: RelayData[] = [];
  #queuedBytes = 0;
  #close: { code: number | undefined; reason: string | undefined; terminate: boolean } | undefined;

  open(socket: OpenSocket): void {
    this.#socket = socket;
    const queue = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const data of queue) socket.send(data);
    const close = this.#close;
    if (!close) return;
    if (close.terminate && socket.terminate) socket.terminate();
    else socket.close(close.code, close.reason);
  }

  send(data: RelayData): void {
    if (this.#socket) {
      this.#socket.send(data);
      return;
    }
    if (this.#close) return;
    this.#queue.push(data);
    // A UTF-16 unit is at most 3 bytes of UTF-8: an upper bound without encoding the text.
    this.#queuedBytes += typeof data === "string" ? data.length * 3 : data.byteLength;
  }

  close(code?: number, reason?: string): void {
    if (this.#socket) this.#socket.close(code, reason);
    else this.#close ??= { code, reason, terminate: false };
  }

  terminate(): void {
    if (this.#socket) this.#socket.terminate?.();
    else this.#close = { code: 1001, reason: "", terminate: true };
  }

  bufferedAmount(): number {
    return (this.#socket?.bufferedAmount() ?? 0) + this.#queuedBytes;
  }
}

/** A relay from an open backend WebSocket to a client whose socket is still opening. */
export function openingRelay(
  upstream: OpenUpstream,
  options: TunnelOptions,
): { client: OpeningPeer; relay: MessageRelay; refuse(): Accepted } {
  const client = new OpeningPeer();
  const relay = new MessageRelay(client, upstream.peer, options);
  upstream.bind(relay);
  return {
    client,
    relay,
    // The runtime would not take the client's handshake (a missing Sec-WebSocket-Key...): the
    // backend's side closes (1001) and the relay ends once it has.
    refuse: () => {
      relay.closed("client", 1006, "");
      return { response: errorResponse(400, "bad_request", "not a valid WebSocket handshake"), tunnel: relay };
    },
  };
}
