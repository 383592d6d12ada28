import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  forwardableCode,
  HIGH_WATER_BYTES,
  MAX_QUEUED_BYTES,
  MessageRelay,
  type RelayData,
  type RelayPeer,
} from "../../src/proxy/websocket-relay.ts";
import { WebSocketSessions } from "../../src/proxy/websocket-sessions.ts";

/** A peer that records what it was asked to do; `queued` is what bufferedAmount reports. */
function peer(options: { pausable?: boolean } = {}) {
  const log = {
    sent: [] as RelayData[],
    closes: [] as { code?: number; reason?: string }[],
    terminated: 0,
    paused: 0,
    resumed: 0,
    queued: 0,
  };
  const relayPeer: RelayPeer = {
    send: (data) => void log.sent.push(data),
    close: (code, reason) => void log.closes.push(code === undefined ? {} : { code, reason: reason! }),
    terminate: () => void log.terminated++,
    bufferedAmount: () => log.queued,
    ...(options.pausable ? { pause: () => void log.paused++, resume: () => void log.resumed++ } : {}),
  };
  return { peer: relayPeer, log };
}

function relay(idleTimeoutMs = 0, pausable = { client: false, upstream: true }) {
  const client = peer({ pausable: pausable.client });
  const upstream = peer({ pausable: pausable.upstream });
  let closed = 0;
  const r = new MessageRelay(client.peer, upstream.peer, { idleTimeoutMs, onClosed: () => closed++ });
  return { r, client: client.log, upstream: upstream.log, closed: () => closed };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("MessageRelay", () => {
  it("passes each message to the other side as it is, text and binary alike", () => {
    const { r, client, upstream } = relay();
    const bytes = new Uint8Array([1, 2, 3]).buffer;
    r.message("client", "hello");
    r.message("client", bytes);
    r.message("upstream", "back");
    expect(upstream.sent).toEqual(["hello", bytes]);
    expect(client.sent).toEqual(["back"]);
  });

  it("passes a close's code and reason on, and ends once the other side has closed too", () => {
    const { r, client, upstream, closed } = relay();
    r.closed("client", 4001, "bye");
    expect(upstream.closes).toEqual([{ code: 4001, reason: "bye" }]);
    expect(closed()).toBe(0);
    r.message("upstream", "late"); // after a close, nothing more is passed on
    expect(client.sent).toEqual([]);
    r.closed("upstream", 4001, "bye");
    expect(closed()).toBe(1);
    r.closed("upstream", 4001, "bye");
    expect(closed()).toBe(1);
  });

  it("turns a vanished client into 1001 and a vanished backend into 1014", () => {
    const first = relay();
    first.r.closed("client", 1006, "");
    expect(first.upstream.closes).toEqual([{ code: 1001, reason: "" }]);
    const second = relay();
    second.r.closed("upstream", 1006, "");
    expect(second.client.closes).toEqual([{ code: 1014, reason: "" }]);
  });

  it("gives up on a side that does not finish its closing handshake, and ends all the same", () => {
    const { r, upstream, closed } = relay();
    r.closed("client", 1000, "");
    vi.advanceTimersByTime(2_999);
    expect(closed()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(upstream.terminated).toBe(1);
    expect(closed()).toBe(1);
  });

  it("closes both sides with 1001 after the idle cap, and not while messages flow", () => {
    const { r, client, upstream, closed } = relay(1_000);
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(600);
      r.message(i % 2 ? "client" : "upstream", `tick ${i}`);
    }
    expect(client.closes).toEqual([]);
    vi.advanceTimersByTime(1_000);
    expect(client.closes).toEqual([{ code: 1001, reason: "idle timeout" }]);
    expect(upstream.closes).toEqual([{ code: 1001, reason: "idle timeout" }]);
    r.closed("client", 1001, "idle timeout");
    r.closed("upstream", 1001, "idle timeout");
    expect(closed()).toBe(1);
  });

  it("pauses a side that can pause while its messages queue up at the other, and resumes it", () => {
    const { r, client, upstream } = relay();
    client.queued = HIGH_WATER_BYTES + 1;
    r.message("upstream", "big");
    expect(upstream.paused).toBe(1);
    r.message("upstream", "more"); // already paused: not paused twice
    expect(upstream.paused).toBe(1);
    client.queued = 2 * 1024 * 1024;
    vi.advanceTimersByTime(50);
    expect(upstream.resumed).toBe(0);
    client.queued = 0;
    vi.advanceTimersByTime(10);
    expect(upstream.resumed).toBe(1);
  });

  it("closes both sides with 1008 when a side that cannot pause outruns a peer that does not read", () => {
    const { r, client, upstream } = relay();
    upstream.queued = HIGH_WATER_BYTES + 1;
    r.message("client", "a");
    expect(client.closes).toEqual([]);
    upstream.queued = MAX_QUEUED_BYTES + 1;
    r.message("client", "b");
    expect(client.closes).toEqual([{ code: 1008, reason: "peer is not reading" }]);
    expect(upstream.closes).toEqual([{ code: 1008, reason: "peer is not reading" }]);
  });

  it("cuts a reason longer than a close frame allows at a character boundary", () => {
    const { r, upstream } = relay();
    r.closed("client", 4000, "é".repeat(100));
    const reason = upstream.closes[0]!.reason!;
    expect(new TextEncoder().encode(reason).length).toBeLessThanOrEqual(123);
    expect(reason).toBe("é".repeat(61));
  });
});

describe("forwardableCode", () => {
  it("sends on what may be sent and replaces what only describes a lost connection", () => {
    expect(forwardableCode(1000, 1011)).toBe(1000);
    expect(forwardableCode(4001, 1011)).toBe(4001);
    expect(forwardableCode(1013, 1011)).toBe(1013);
    expect(forwardableCode(1005, 1011)).toBeUndefined();
    for (const code of [1004, 1006, 1015, 999, 5000, 2000]) expect(forwardableCode(code, 1011)).toBe(1011);
  });
});

describe("WebSocketSessions", () => {
  it("closes every open tunnel and resolves once each has left", async () => {
    const sessions = new WebSocketSessions();
    const closes: string[] = [];
    const leave: Array<() => void> = [];
    for (const name of ["a", "b"]) {
      const remove = sessions.add({ close: (code, reason) => void closes.push(`${name} ${code} ${reason}`) });
      leave.push(remove);
    }
    expect(sessions.size).toBe(2);
    let done = false;
    const all = sessions.closeAll(1001, "shutting down").then(() => {
      done = true;
    });
    expect(closes).toEqual(["a 1001 shutting down", "b 1001 shutting down"]);
    leave[0]!();
    await Promise.resolve();
    expect(done).toBe(false);
    leave[1]!();
    await all;
    expect(sessions.size).toBe(0);
    await sessions.closeAll(1001, "nothing open");
  });
});
