// The WebSocket load generator: C clients, each with one WebSocket to a 127.0.0.1 target, run a
// closed loop (send a 64-byte binary message, wait for its echo, send the next) for a bounded
// time or a bounded number of messages, and report round trips per second and the 50th and
// 99th round-trip percentiles. Clients connect once; warm-up and measurement reuse them.

import { performance } from "node:perf_hooks";
import WebSocket, { type RawData } from "ws";
import { LatencyLog } from "./load.ts";

export const MESSAGE_BYTES = 64;
/** A handshake or an echo slower than this counts as failed. */
const TIMEOUT_MS = 5_000;
/** A count-bounded run still stops after this long. */
const MAX_RUN_S = 60;

export interface WebSocketLoadSpec {
  /** Seconds of load. */
  readonly durationS?: number;
  /** Stop after this many round trips, summed over the clients. */
  readonly messages?: number;
}

export interface WebSocketLoadResult {
  /** Completed round trips (echoed or failed). */
  readonly messages: number;
  /** Echoes that never came, came wrong, or whose socket closed. */
  readonly errors: number;
  readonly durationS: number;
  readonly messagesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

interface Client {
  readonly socket: WebSocket;
  /** Resolves the round trip in flight: the echo, or undefined when the socket is gone. */
  waiting?: ((data: Buffer | undefined) => void) | undefined;
  open: boolean;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function connect(url: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: TIMEOUT_MS });
    const client: Client = { socket, open: false };
    socket.on("message", (data) => client.waiting?.(toBuffer(data)));
    socket.once("open", () => {
      client.open = true;
      resolve(client);
    });
    socket.on("error", (error) => {
      if (!client.open) reject(new Error(`WebSocket handshake with ${url} failed: ${error.message}`));
      client.waiting?.(undefined);
    });
    socket.on("close", () => {
      client.open = false;
      client.waiting?.(undefined);
    });
  });
}

/** One message and its echo: the round trip's milliseconds, or undefined when it failed. */
function roundTrip(client: Client, message: Buffer): Promise<number | undefined> {
  return new Promise((resolve) => {
    const started = performance.now();
    const timer = setTimeout(() => finish(undefined), TIMEOUT_MS);
    function finish(echo: Buffer | undefined): void {
      clearTimeout(timer);
      client.waiting = undefined;
      resolve(echo?.equals(message) ? performance.now() - started : undefined);
    }
    client.waiting = finish;
    client.socket.send(message, { binary: true }, (error) => {
      if (error) finish(undefined);
    });
  });
}

export interface WebSocketClients {
  run(spec: WebSocketLoadSpec): Promise<WebSocketLoadResult>;
  /** Closes every socket (1000), waiting a little for the close handshakes. */
  close(): Promise<void>;
}

/** Opens `count` WebSockets to `url` (ws://127.0.0.1 only); rejects if any handshake fails. */
export async function openWebSocketClients(url: string, count: number): Promise<WebSocketClients> {
  const target = new URL(url);
  if (target.protocol !== "ws:" || target.hostname !== "127.0.0.1") {
    throw new Error(`bench WebSockets go to ws://127.0.0.1 only, not ${url}`);
  }
  const opening = Array.from({ length: count }, () => connect(url));
  const settled = await Promise.allSettled(opening);
  const clients = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const close = async () => {
    await Promise.all(
      clients.map(
        (client) =>
          new Promise<void>((resolve) => {
            if (client.socket.readyState === WebSocket.CLOSED) return resolve();
            const timer = setTimeout(() => {
              client.socket.terminate();
              resolve();
            }, 1_000);
            client.socket.once("close", () => {
              clearTimeout(timer);
              resolve();
            });
            client.socket.close(1000, "bench done");
          }),
      ),
    );
  };
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) {
    await close();
    throw (failed as PromiseRejectedResult).reason;
  }
  return { run: (spec) => runLoad(clients, spec), close };
}

async function runLoad(clients: readonly Client[], spec: WebSocketLoadSpec): Promise<WebSocketLoadResult> {
  if (spec.durationS === undefined && spec.messages === undefined) {
    throw new Error("a WebSocket load run needs a duration or a message count");
  }
  const limit = spec.messages ?? Number.POSITIVE_INFINITY;
  const deadline = performance.now() + Math.min(spec.durationS ?? MAX_RUN_S, MAX_RUN_S) * 1000;
  const latencies = new LatencyLog(limit);
  let issued = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(async (client, index) => {
      const message = Buffer.alloc(MESSAGE_BYTES, index % 256);
      let sequence = 0;
      while (client.open && issued < limit && performance.now() < deadline) {
        issued++;
        // A counter in every message: an echo of an earlier one does not pass for this one.
        message.writeUInt32BE(sequence++, 0);
        const elapsed = await roundTrip(client, message);
        if (elapsed === undefined) {
          errors++;
          // Its stream is out of step now (a late echo would be taken for the next): stop it.
          client.socket.terminate();
          continue;
        }
        latencies.add(elapsed);
      }
    }),
  );
  const durationS = (performance.now() - started) / 1000;
  const done = latencies.count;
  return {
    messages: done + errors,
    errors,
    durationS,
    messagesPerSecond: done / durationS,
    ...latencies.percentiles(),
  };
}
