/** What every bench's figures are made of: min / median / max of repeated runs, never fewer than five. */
import { describe, expect, it } from "vitest";
import { percentile, summarize } from "../../bench/lib";

describe("summarize", () => {
  it("gives min, median and max of the runs, in any order, and their number", () => {
    expect(summarize([5, 1, 4, 2, 3])).toEqual({ runs: 5, min: 1, median: 3, max: 5 });
    expect(summarize([6, 1, 4, 2, 3, 5])).toEqual({ runs: 6, min: 1, median: 3.5, max: 6 });
  });

  it("refuses a figure from fewer than five runs", () => {
    expect(() => summarize([1, 2, 3, 4])).toThrow("a figure needs at least 5 runs; got 4");
    expect(() => summarize([])).toThrow("a figure needs at least 5 runs; got 0");
  });

  it("takes the p99 by nearest rank: of 300 latencies, the 4th slowest", () => {
    const latencies = Array.from({ length: 300 }, (_, i) => 300 - i);
    expect(percentile(latencies, 99)).toBe(297);
    expect(summarize(latencies, true)).toEqual({ runs: 300, min: 1, median: 150.5, max: 300, p99: 297 });
    // Of 60, the p99 is the slowest: why the service bench times 300.
    expect(percentile(latencies.slice(0, 60), 99)).toBe(300);
  });
});
