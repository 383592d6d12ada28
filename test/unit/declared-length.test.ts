import { describe, expect, it } from "vitest";
import { declaredLength } from "../../src/shared/declared-length.ts";

describe("declaredLength", () => {
  it("is the Content-Length of a body as it came, identity encoding included", () => {
    expect(declaredLength("12", null)).toBe(12);
    expect(declaredLength("0", undefined)).toBe(0);
    expect(declaredLength("12", "identity")).toBe(12);
  });

  it("is unknown for an encoded body, a missing length, or one that is not a plain decimal", () => {
    expect(declaredLength("12", "gzip")).toBeUndefined();
    expect(declaredLength(null, null)).toBeUndefined();
    expect(declaredLength(undefined, undefined)).toBeUndefined();
    for (const odd of ["", "-1", "1e3", " 12", "12, 12", "0x10", "1234567890123456"]) {
      expect(declaredLength(odd, null)).toBeUndefined();
    }
    expect(declaredLength("123456789012345", null)).toBe(123456789012345);
  });
});
