// A ws client whose events are recorded, so a test awaits what has already happened too; and
// the handshake's non-101 answer, read whole. Used by every WebSocket suite, on every runtime.
import type { IncomingMessage } from "node:http";
import WebSocket from "ws";

export interface Received {
  readonly data: Buffer;
  readonly binary: boolean;
}

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

export class Client {
  readonly messages: Received[] = [];
  readonly closed: Promise<Closed>;
  #wake: (() => void) | undefined;

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer, binary) => {
      this.messages.push({ data, binary });
      this.#wake?.();
    });
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: `${reason}` })));
    ws.on("error", () => undefined);
  }

  /** Resolves with the first `count` messages, or rejects after `ms`. */
  async received(count: number, ms = 10_000): Promise<Received[]> {
    const deadline = Date.now() + ms;
    while (this.messages.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.messages.length} of ${count} messages within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.messages.slice(0, count);
  }
}

/** Clients opened by connect(), for a suite's afterEach to terminate. */
export const openClients: Client[] = [];

export function closeOpenClients(): void {
  for (const client of openClients.splice(0)) client.ws.terminate();
}

/** `base` is the balancer's http://host:port. Resolves once open; rejects on a non-101 answer. */
export function connect(
  base: string,
  path: string,
  protocols?: string[],
  options: WebSocket.ClientOptions = {},
): Promise<Client> {
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}${path}`, protocols, { maxPayload: 64 << 20, ...options });
  const client = new Client(ws);
  openClients.push(client);
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(client));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

/** The handshake's non-101 answer: status, headers and body. */
export function refused(base: string, path: string) {
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}${path}`);
  return new Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }>((resolve, reject) => {
    ws.once("open", () => reject(new Error("the handshake succeeded")));
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        ws.terminate();
      });
    });
  });
}

/** Polls `check` every 10 ms until it holds, for at most `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
