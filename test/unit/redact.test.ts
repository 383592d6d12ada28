import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonErrorOffset, jsonSyntaxSummary, redact, scrubCredentials } from "../../src/config/redact.ts";

describe("scrubCredentials", () => {
  it.each([
    ["http://user:pass@a.example/x", "http://<redacted>@a.example/x"],
    ["https://deploy@b.example", "https://<redacted>@b.example"],
    ["rediss://default:p@ss@c.example:6379", "rediss://<redacted>@c.example:6379"],
    ["http://u:pa/ss@d.example", "http://<redacted>@d.example"],
    ['got "http://u:p@a.example,http://b.example"', 'got "http://<redacted>@a.example,http://b.example"'],
    ["http://a.example/no-credentials", "http://a.example/no-credentials"],
    ["mail me at ops@example.com", "mail me at ops@example.com"],
  ])("%s", (input, output) => {
    expect(scrubCredentials(input)).toBe(output);
    expect(scrubCredentials(output)).toBe(output);
  });
});

describe("redact", () => {
  it("hides secret-named keys at any depth and credentials in strings and keys", () => {
    expect(
      redact({
        a: [{ api_key: 1, b: "http://x:y@h" }],
        headers: { Authorization: "Bearer z", Accept: "*/*" },
        admin_cookie_secure: "no",
      }),
    ).toEqual({
      a: [{ api_key: "<redacted>", b: "http://<redacted>@h" }],
      headers: { Authorization: "<redacted>", Accept: "*/*" },
      admin_cookie_secure: "no",
    });
  });
});

describe("jsonSyntaxSummary", () => {
  it("keeps the kind of error and drops whatever an engine quotes", () => {
    const text = '{"a": tru}';
    // JavaScriptCore's and V8's wording for the same text.
    expect(jsonSyntaxSummary(new SyntaxError('JSON Parse error: Unexpected identifier "tru"'), text)).toBe(
      "Unexpected identifier at position 6 (line 1 column 7)",
    );
    expect(jsonSyntaxSummary(new SyntaxError(`Unexpected token 't', "{"a": tru}" is not valid JSON`), text)).toBe(
      "Unexpected token at position 6 (line 1 column 7)",
    );
    expect(jsonSyntaxSummary(new SyntaxError("JSON Parse error: Invalid escape character q"), '{"a":"\\q"}')).toBe(
      "Invalid escape character at position 6 (line 1 column 7)",
    );
    expect(jsonSyntaxSummary(new SyntaxError('"secret" is not valid JSON'), "secret")).toBe(
      "syntax error at position 0 (line 1 column 1)",
    );
  });
});

describe("jsonErrorOffset agrees with JSON.parse on what is valid", () => {
  const mutated = fc
    .tuple(fc.json(), fc.nat(), fc.constantFrom("", "x", ",", "}", "]", '"', "\\", "\n", "1", "{", ":"), fc.boolean())
    .map(([json, at, insert, drop]) => {
      const i = at % (json.length + 1);
      return json.slice(0, i) + insert + json.slice(drop ? i + 1 : i);
    });

  it("for valid and mutated JSON texts", () => {
    fc.assert(
      fc.property(mutated, (text) => {
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        const offset = jsonErrorOffset(text);
        expect(offset === undefined).toBe(valid);
        if (offset !== undefined) expect(offset).toBeLessThanOrEqual(text.length);
      }),
      { numRuns: 2_000 },
    );
  });
});
