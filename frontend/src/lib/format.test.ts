import { formatBytes, formatCount, formatMetric, plural, shortHash, timeAgo } from "./format";

describe("format", () => {
  it("says how long ago, then switches to a date past a week", () => {
    const now = new Date("2026-11-28T12:00:00Z");
    expect(timeAgo("2026-11-28T11:59:50Z", now)).toBe("just now");
    expect(timeAgo("2026-11-28T11:55:00Z", now)).toBe("5 min ago");
    expect(timeAgo("2026-11-28T09:00:00Z", now)).toBe("3 h ago");
    expect(timeAgo("2026-11-26T12:00:00Z", now)).toBe("2 d ago");
    expect(timeAgo("2026-10-01T12:00:00Z", now)).toMatch(/2026/);
    expect(timeAgo(null, now)).toBe("—");
  });

  it("formats sizes, counts, hashes and metrics", () => {
    expect(formatBytes(854)).toBe("854 B");
    expect(formatBytes(50 * 1024 * 1024)).toBe("50 MB");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatCount(12345)).toBe("12,345");
    expect(shortHash("0123456789abcdef", 6)).toBe("012345");
    expect(formatMetric(0.012345)).toBe("0.01235");
    expect(formatMetric(2e-5)).toBe("2.00e-5");
    expect(formatMetric(undefined)).toBe("—");
    expect(plural(1, "row")).toBe("1 row");
    expect(plural(2, "row")).toBe("2 rows");
  });
});
