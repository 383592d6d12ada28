// The servers' access log: requests gathered as they end, their lines written in order, one text
// a batch, after the interval or once a batch is full, and each record as it was when its
// request ended (not when the batch was written), whether the line is made as the request ends
// or when its batch is written.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { EndedRequest } from "../../src/proxy/request-trace.ts";
import { RequestTrace } from "../../src/proxy/request-trace.ts";
import { AccessBatch, type AccessLineTiming, BATCH_RECORDS } from "../../src/runtime/access-batch.ts";
import { endedRequest } from "../support/ended-request.ts";

/** Record n (request id `r<n>`); `made` counts the records made of it. */
const ended = (n: number, made = { count: 0 }): EndedRequest => endedRequest(`r${n}`, made);

const idsOf = (text: string) =>
  text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line).request_id);

describe.each<AccessLineTiming>(["in-batch", "at-end"])("AccessBatch, lines made %s", (timing) => {
  const batchOf = (written: string[]) => {
    const batch = new AccessBatch((text) => written.push(text), 20);
    batch.timing = timing;
    return batch;
  };

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance", "Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("writes what ended within the interval as one text, a JSON line each, in order", () => {
    const written: string[] = [];
    const batch = batchOf(written);
    batch.log(ended(1));
    batch.log(ended(2));
    vi.advanceTimersByTime(19);
    expect(written).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(written).toHaveLength(1);
    expect(written[0]!.endsWith("\n")).toBe(true);
    expect(idsOf(written[0]!)).toEqual(["r1", "r2"]);
    batch.log(ended(3));
    vi.advanceTimersByTime(20);
    expect(written.map(idsOf)).toEqual([["r1", "r2"], ["r3"]]);
    vi.advanceTimersByTime(100);
    expect(written).toHaveLength(2);
  });

  it("writes a full batch at once, and what waits when asked (exit)", () => {
    const written: string[] = [];
    const batch = batchOf(written);
    for (let n = 0; n < BATCH_RECORDS; n++) batch.log(ended(n));
    expect(written).toHaveLength(1);
    expect(idsOf(written[0]!)).toHaveLength(BATCH_RECORDS);
    batch.log(ended(-1));
    batch.writeOut();
    expect(written.map(idsOf)[1]).toEqual(["r-1"]);
    batch.writeOut();
    expect(written).toHaveLength(2);
  });

  it("keeps each request's end time and outcome, however late its line is written", () => {
    const written: string[] = [];
    const batch = batchOf(written);
    const trace = new RequestTrace(batch.log, "id-1", "GET", "lb.test", "/", "203.0.113.9");
    vi.advanceTimersByTime(3);
    trace.finish(new Response(null, { status: 204 }), { signal: new AbortController().signal });
    vi.advanceTimersByTime(19);
    expect(written).toEqual([]);
    vi.advanceTimersByTime(1);
    const record = JSON.parse(written[0]!);
    expect(record).toMatchObject({ request_id: "id-1", status: 204, bytes_out: 0 });
    expect(record.total_ms).toBe(3);
  });

  it(`makes a request's line ${timing === "at-end" ? "as it ends" : "when its batch is written"}, once`, () => {
    const written: string[] = [];
    const batch = batchOf(written);
    const made = { count: 0 };
    batch.log(ended(7, made));
    expect(made.count).toBe(timing === "at-end" ? 1 : 0);
    vi.advanceTimersByTime(20);
    expect(made.count).toBe(1);
    expect(written.map(idsOf)).toEqual([["r7"]]);
  });
});
