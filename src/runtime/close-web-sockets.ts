import type { WebSocketSessions } from "../proxy/websocket-sessions.ts";

/**
 * Graceful shutdown's last word to open WebSockets: 1001 to both sides of each. Resolves once
 * all have closed, or after `ms` (a peer that does not answer must not hold the exit).
 */
export function closeWebSockets(sessions: WebSocketSessions, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([sessions.closeAll(1001, "server shutting down"), waited]).finally(() => clearTimeout(timer));
}
