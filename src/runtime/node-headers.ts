// Header routes on Node read the request's raw header list instead of request.headers: undici's
// Headers.get validates the name character by character and converts it through WebIDL on every
// call, which made two header routes most of routing's cost per request (npm run bench, routing's
// cost in instructions), and IncomingMessage.headersDistinct builds an object of every header
// on first use. A scan of rawHeaders compares lengths first and lower-cases only names of the
// same length; repeated values are joined as Headers.get joins them. Route header names are
// lower case already (route-match.ts).
import type { IncomingMessage } from "node:http";
import type { HeaderReader } from "../routing/route-match.ts";

export class IncomingHeaders implements HeaderReader {
  constructor(private readonly incoming: IncomingMessage) {}

  get(name: string): string | null {
    const raw = this.incoming.rawHeaders;
    let found: string | null = null;
    for (let i = 0; i < raw.length; i += 2) {
      const candidate = raw[i]!;
      if (candidate.length !== name.length || candidate.toLowerCase() !== name) continue;
      const value = raw[i + 1]!;
      // Headers.get joins Cookie with "; " (undici), every other name with ", ".
      found = found === null ? value : `${found}${name === "cookie" ? "; " : ", "}${value}`;
    }
    return found;
  }
}
