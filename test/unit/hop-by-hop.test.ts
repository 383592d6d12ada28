import { describe, expect, it } from "vitest";
import { BadConnectionHeader, carriesHopByHop, dropHopByHop } from "../../src/proxy/hop-by-hop.ts";

describe("hop-by-hop headers (RFC 9110 7.6.1)", () => {
  it("drops the fixed list and whatever Connection names, keeps the rest", () => {
    const headers = new Headers({
      connection: "keep-alive, X-Secret-Hop",
      "keep-alive": "timeout=5",
      te: "trailers",
      trailer: "x-checksum",
      "transfer-encoding": "chunked",
      upgrade: "websocket",
      "proxy-authorization": "Basic abc",
      "proxy-authenticate": "Basic",
      "x-secret-hop": "1",
      "x-kept": "yes",
      "content-type": "text/plain",
    });
    dropHopByHop(headers, true);
    expect([...headers.keys()].sort()).toEqual(["content-type", "x-kept"]);
  });

  it("refuses a malformed Connection list from a client, tolerates it from an upstream", () => {
    expect(() => dropHopByHop(new Headers({ connection: "close, bad header" }), true)).toThrow(BadConnectionHeader);
    const lenient = dropHopByHop(new Headers({ connection: "close, bad header", "x-a": "1" }), false);
    expect([...lenient.keys()]).toEqual(["x-a"]);
  });

  it("ignores empty items in the Connection list", () => {
    const headers = dropHopByHop(new Headers({ connection: " , x-one ,, ", "x-one": "1", "x-two": "2" }), true);
    expect([...headers.keys()]).toEqual(["x-two"]);
  });

  it("says when a response must be rewritten: any hop-by-hop header, or an encoding fetch already decoded", () => {
    expect(carriesHopByHop(new Headers({ "content-type": "text/plain" }))).toBe(false);
    expect(carriesHopByHop(new Headers({ connection: "keep-alive" }))).toBe(true);
    expect(carriesHopByHop(new Headers({ "keep-alive": "timeout=5" }))).toBe(true);
    expect(carriesHopByHop(new Headers({ "content-encoding": "gzip" }))).toBe(true);
  });
});
