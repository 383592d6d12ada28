import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { Readable } from "node:stream";

const httpAgent = new HttpAgent({ keepAlive: true });
const httpsAgent = new HttpsAgent({ keepAlive: true });

/**
 * A fetch for upstream calls on Node that sends the Host header it is given. The Fetch
 * standard forbids setting Host, so undici's fetch drops it; `preserve_host` needs it sent.
 * Bodies stream both ways, redirects are returned (never followed), repeated response headers
 * (Set-Cookie) stay separate, and the request's signal aborts the exchange.
 */
export function hostPreservingFetch(hostFrom: (request: Request) => string | undefined): typeof fetch {
  return async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const host = hostFrom(request);
    if (host) headers["host"] = host;
    // Frame the body ourselves. node:http sends a GET, DELETE or OPTIONS body with neither
    // Content-Length nor chunked encoding unless told, and on a kept-alive connection the
    // upstream then reads those bytes as a second request (request smuggling).
    delete headers["transfer-encoding"];
    const bytes = init?.body instanceof ArrayBuffer ? init.body.byteLength : undefined;
    if (bytes !== undefined) headers["content-length"] = String(bytes);
    else if (request.body && headers["content-length"] === undefined) headers["transfer-encoding"] = "chunked";
    else if (!request.body) delete headers["content-length"];
    const secure = url.protocol === "https:";
    const send = secure ? httpsRequest : httpRequest;
    return new Promise<Response>((resolve, reject) => {
      const outgoing = send(url, {
        method: request.method,
        headers,
        agent: secure ? httpsAgent : httpAgent,
        signal: request.signal,
      });
      outgoing.once("response", (incoming: IncomingMessage) => resolve(toResponse(incoming)));
      outgoing.once("error", (error) => reject(new TypeError("fetch failed", { cause: error })));
      if (request.body) {
        Readable.fromWeb(request.body as import("node:stream/web").ReadableStream).pipe(outgoing);
      } else {
        outgoing.end();
      }
    });
  };
}

function toResponse(incoming: IncomingMessage): Response {
  const headers = new Headers();
  for (let i = 0; i < incoming.rawHeaders.length; i += 2) {
    headers.append(incoming.rawHeaders[i]!, incoming.rawHeaders[i + 1]!);
  }
  const status = incoming.statusCode ?? 502;
  const noBody = status === 204 || status === 304 || status < 200;
  return new Response(noBody ? null : (Readable.toWeb(incoming) as ReadableStream<Uint8Array>), {
    status,
    statusText: incoming.statusMessage ?? "",
    headers,
  });
}
