import type { Tunnel } from "./websocket-connector.ts";

/**
 * This instance's open WebSockets, so graceful shutdown can close them (1001) once its grace
 * period is over, and status can count them. A tunnel leaves the set when it closes.
 */
export class WebSocketSessions {
  readonly #open = new Set<Tunnel>();
  readonly #waiters = new Set<() => void>();

  get size(): number {
    return this.#open.size;
  }

  /** Adds an open tunnel; the returned function removes it (call it once it has closed). */
  add(tunnel: Tunnel): () => void {
    this.#open.add(tunnel);
    return () => {
      if (!this.#open.delete(tunnel) || this.#open.size > 0) return;
      for (const wake of this.#waiters) wake();
      this.#waiters.clear();
    };
  }

  /** Closes every open tunnel; resolves once all have closed (or at once when none is open). */
  closeAll(code: number, reason: string): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.#waiters.add(resolve));
    for (const tunnel of [...this.#open]) tunnel.close(code, reason);
    return closed;
  }
}
