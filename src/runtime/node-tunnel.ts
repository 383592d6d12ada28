import type { Socket } from "node:net";
import type { Tunnel, TunnelOptions } from "../proxy/websocket-connector.ts";
import { closeFrame, FrameBoundaryTracker } from "./websocket-frames.ts";

/**
 * After one side has closed (or been sent a close), how long the other gets to close its TCP
 * connection before it is destroyed.
 */
const CLOSE_GRACE_MS = 1_000;
/** A client that vanished without a close is "going away" to the backend (RFC 6455 7.4.1). */
const CLIENT_GONE = 1001;
/** A backend that vanished without a close is a bad gateway to the client. */
const UPSTREAM_GONE = 1014;

/** One direction of the tunnel: bytes read from `from` are written to `to`. */
interface Direction {
  readonly from: Socket;
  readonly to: Socket;
  /** Frames as `to` receives them: a close of ours goes in only between two. */
  readonly tracker: FrameBoundaryTracker;
  /** Frames towards the backend are client-to-server frames and must be masked (RFC 6455 5.3). */
  readonly masked: boolean;
  /** A close of ours waiting for the frame in flight to end. */
  pendingClose: Uint8Array | undefined;
  /** Our close went out: `from`'s further bytes are dropped (nothing may follow a close). */
  cut: boolean;
}

/**
 * A WebSocket carried as bytes between the client's socket and the backend's, as nginx and
 * HAProxy do: the handshake, subprotocol, extensions (permessage-deflate), pings and every frame
 * pass unchanged. Only frame headers are read, so that closing (shutdown, the idle cap, one side
 * vanishing) sends each side a proper close frame at a frame boundary rather than cutting a frame.
 */
export class ByteTunnel implements Tunnel {
  readonly #toUpstream: Direction;
  readonly #toClient: Direction;
  readonly #open = new Set<Socket>();
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #ended = false;

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly options: TunnelOptions,
  ) {
    this.#toUpstream = direction(client, upstream, true);
    this.#toClient = direction(upstream, client, false);
  }

  /**
   * Starts carrying bytes. `clientHead` and `upstreamHead` are what each side sent right after
   * its handshake and node:http had already read.
   */
  start(clientHead: Uint8Array, upstreamHead: Uint8Array): void {
    const { client, upstream } = this;
    for (const socket of [client, upstream]) {
      socket.on("error", () => undefined);
      socket.setNoDelay(true);
      // node:http's own timeouts must not cut a quiet WebSocket; the idle cap is ours (below).
      socket.setTimeout(0);
    }
    if (client.destroyed || upstream.destroyed) {
      client.destroy();
      upstream.destroy();
      this.#finish();
      return;
    }
    this.#open.add(client).add(upstream);
    for (const d of [this.#toUpstream, this.#toClient]) {
      d.from.on("data", (chunk: Buffer) => this.#carry(d, chunk));
      d.from.on("end", () => this.#peerGone(d.from));
      d.from.on("close", () => this.#closed(d.from));
    }
    // Every byte either way passes through the client's socket, so its inactivity is the tunnel's.
    if (this.options.idleTimeoutMs > 0) {
      client.setTimeout(this.options.idleTimeoutMs, () => this.close(1001, "idle timeout"));
    }
    if (upstreamHead.length > 0) this.#carry(this.#toClient, upstreamHead);
    if (clientHead.length > 0) this.#carry(this.#toUpstream, clientHead);
  }

  /** Sends both sides a close with `code` and `reason` and ends both connections. */
  close(code: number, reason: string): void {
    if (this.#ended) return;
    this.client.setTimeout(0);
    for (const d of [this.#toUpstream, this.#toClient]) {
      // A side that already sent its close is in the closing handshake: its peer answers itself.
      if (!d.tracker.closeSeen) this.#sendClose(d, code, reason);
    }
    this.#armGrace();
  }

  #carry(d: Direction, chunk: Uint8Array): void {
    if (d.cut) return;
    if (!d.pendingClose) {
      d.tracker.advance(chunk);
      this.#write(d, chunk);
      return;
    }
    const boundary = d.tracker.advance(chunk, true);
    if (boundary > 0) this.#write(d, chunk.subarray(0, boundary));
    if (d.tracker.atBoundary) this.#inject(d);
  }

  #write(d: Direction, chunk: Uint8Array): void {
    if (d.to.destroyed || d.to.writableEnded) return;
    if (d.to.write(chunk) || d.from.isPaused()) return;
    d.from.pause();
    d.to.once("drain", () => d.from.resume());
  }

  /** Queues a close to `d.to`: now if between frames, else once the frame in flight has passed. */
  #sendClose(d: Direction, code: number, reason: string): void {
    if (d.cut || d.pendingClose || d.to.destroyed || d.to.writableEnded) return;
    d.pendingClose = closeFrame(code, reason, d.masked ? crypto.getRandomValues(new Uint8Array(4)) : undefined);
    if (d.tracker.atBoundary) this.#inject(d);
  }

  #inject(d: Direction): void {
    const frame = d.pendingClose!;
    d.pendingClose = undefined;
    d.cut = true;
    if (d.from.isPaused()) d.from.resume();
    if (!d.to.destroyed && !d.to.writableEnded) d.to.end(frame);
  }

  /**
   * `gone` ended or closed its connection: its peer is told so, with the close frame `gone`
   * sent if it sent one, else a close of ours where a frame boundary allows, else just the end
   * of the connection.
   */
  #peerGone(gone: Socket): void {
    const d = gone === this.client ? this.#toUpstream : this.#toClient;
    if (!d.cut && !d.tracker.closeSeen && d.tracker.atBoundary) {
      this.#sendClose(d, gone === this.client ? CLIENT_GONE : UPSTREAM_GONE, "");
    } else if (!d.to.destroyed && !d.to.writableEnded) {
      d.cut = true;
      d.to.end();
    }
    this.#armGrace();
  }

  #closed(socket: Socket): void {
    if (!this.#open.delete(socket)) return;
    if (this.#open.size > 0) {
      this.#peerGone(socket);
      return;
    }
    this.#finish();
  }

  #armGrace(): void {
    this.#graceTimer ??= setTimeout(() => {
      this.client.destroy();
      this.upstream.destroy();
    }, CLOSE_GRACE_MS);
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#graceTimer);
    this.options.onClosed();
  }
}

function direction(from: Socket, to: Socket, masked: boolean): Direction {
  return { from, to, tracker: new FrameBoundaryTracker(), masked, pendingClose: undefined, cut: false };
}
