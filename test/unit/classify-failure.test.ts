import { describe, expect, it } from "vitest";
import { classifyFailure } from "../../src/proxy/forward.ts";

const nodeError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe("classifyFailure", () => {
  it("reads node:http's code on the error itself", () => {
    expect(classifyFailure(nodeError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:9")).kind).toBe("unreachable");
    expect(classifyFailure(nodeError("EAI_AGAIN", "getaddrinfo EAI_AGAIN backend")).kind).toBe("unreachable");
    expect(classifyFailure(nodeError("ECONNRESET", "socket hang up")).kind).toBe("failed");
  });

  it("reads undici's code on the cause", () => {
    const error = new TypeError("fetch failed", { cause: nodeError("ECONNREFUSED", "connect ECONNREFUSED") });
    expect(classifyFailure(error)).toEqual({ kind: "unreachable", reason: "fetch failed (ECONNREFUSED)" });
    const reset = new TypeError("fetch failed", { cause: nodeError("UND_ERR_SOCKET", "other side closed") });
    expect(classifyFailure(reset).kind).toBe("failed");
  });

  it("reads workerd's message, and ignores a DOMException's numeric code", () => {
    expect(classifyFailure(new Error("Network connection lost.")).kind).toBe("failed");
    expect(classifyFailure(new Error("connect: connection refused")).kind).toBe("unreachable");
    expect(classifyFailure(new DOMException("aborted", "AbortError")).kind).toBe("failed");
  });
});
