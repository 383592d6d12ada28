import { describe, expect, it } from "vitest";
import { OpeningPeer, type OpenSocket } from "../../src/runtime/opening-peer.ts";

function socket(): OpenSocket & { readonly log: unknown[] } {
  const log: unknown[] = [];
  return {
    log,
    send: (data) => void log.push(data),
    close: (code, reason) => void log.push(["close", code, reason]),
    terminate: () => void log.push("terminate"),
    bufferedAmount: () => 7,
  };
}

describe("OpeningPeer", () => {
  it("holds messages until the socket opens, counting them as buffered", () => {
    const peer = new OpeningPeer();
    const bytes = new Uint8Array(10);
    peer.send("ab");
    peer.send(bytes);
    expect(peer.bufferedAmount()).toBe(2 * 3 + 10);
    const open = socket();
    peer.open(open);
    expect(open.log).toEqual(["ab", bytes]);
    expect(peer.bufferedAmount()).toBe(7);
    peer.send("c");
    expect(open.log).toEqual(["ab", bytes, "c"]);
  });

  it("closes the socket as soon as it opens when the relay closed it before, after what was queued", () => {
    const peer = new OpeningPeer();
    peer.send("last words");
    peer.close(4001, "bye");
    peer.send("too late");
    const open = socket();
    peer.open(open);
    expect(open.log).toEqual(["last words", ["close", 4001, "bye"]]);
  });

  it("terminates the socket as soon as it opens when the relay gave up on it before", () => {
    const peer = new OpeningPeer();
    peer.close(1001, "going");
    peer.terminate();
    const open = socket();
    peer.open(open);
    expect(open.log).toEqual(["terminate"]);
  });
});
