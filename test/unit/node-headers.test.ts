// Header routes on Node read the IncomingMessage's header lists (src/runtime/node-headers.ts):
// whatever the request carries, the reader answers as Headers.get would. A real node:http server
// parses the request (headersDistinct is filled by its parser), on 127.0.0.1.
import { createServer, type IncomingMessage } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { describe, expect, it } from "vitest";
import { IncomingHeaders } from "../../src/runtime/node-headers.ts";

const RAW = [
  ["X-Tenant", "a"],
  ["x-tenant", "b"],
  ["X-Canary", "1"],
  ["Authorization", "Bearer one"],
  ["authorization", "Bearer two"],
  ["Cookie", "a=1"],
  ["cookie", "b=2"],
  ["User-Agent", "curl"],
  ["Empty", ""],
] as const;

async function parsed(): Promise<IncomingMessage> {
  let server: ReturnType<typeof createServer> | undefined;
  try {
    return await new Promise<IncomingMessage>((resolve, reject) => {
      server = createServer((request, response) => {
        resolve(request);
        response.end();
      });
      server.listen(0, "127.0.0.1", () => {
        const { port } = server!.address() as AddressInfo;
        const socket = connect(port, "127.0.0.1", () => {
          const lines = [
            "GET / HTTP/1.1",
            "Host: 127.0.0.1",
            ...RAW.map(([n, v]) => `${n}: ${v}`),
            "Connection: close",
          ];
          socket.end(`${lines.join("\r\n")}\r\n\r\n`);
        });
        socket.on("error", reject);
        socket.resume();
      });
    });
  } finally {
    server?.close();
  }
}

describe("IncomingHeaders", () => {
  it("answers as Headers.get: repeated values joined, names in any case, absent as null", async () => {
    const reader = new IncomingHeaders(await parsed());
    const headers = new Headers();
    for (const [name, value] of RAW) headers.append(name, value);
    for (const name of ["x-tenant", "x-canary", "authorization", "cookie", "user-agent", "empty", "x-missing"]) {
      expect(reader.get(name)).toBe(headers.get(name));
    }
    expect(reader.get("x-tenant")).toBe("a, b");
    expect(reader.get("x-missing")).toBeNull();
  });
});
