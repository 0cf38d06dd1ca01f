/** SVG line charts and the HTML index of reports. */
import { describe, expect, it } from "vitest";
import { lineChart, niceTicks } from "../../src/lab/svg.js";

describe("lineChart", () => {
  it("nice ticks are 1, 2, 5 x 10^k steps covering the range", () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 97)).toEqual([20, 40, 60, 80]);
    expect(niceTicks(5, 5)).toEqual([5]);
  });

  it("draws one line and legend entry per series, a band where lo and hi exist, and skips non-finite points", () => {
    const svg = lineChart(
      [
        {
          name: "a <b>",
          points: [
            { x: 1, y: 0.5, lo: 0.4, hi: 0.6 },
            { x: 2, y: 0.7, lo: 0.6, hi: 0.8 },
            { x: 4, y: NaN },
          ],
        },
        {
          name: "c",
          dashed: true,
          points: [
            { x: 1, y: 0.1 },
            { x: 4, y: 0.9 },
          ],
        },
      ],
      { title: "t", xLabel: "x", yLabel: "y", xScale: "log2", yRange: [0, 1] },
    );
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg.match(/<polygon/g)).toHaveLength(1);
    expect(svg.match(/<circle/g)).toHaveLength(4);
    expect(svg).toContain("a &lt;b&gt;");
    expect(svg).toContain('stroke-dasharray="6 4"');
    expect(svg).not.toContain("NaN");
    // log2 axis: ticks at powers of two
    for (const t of ["1", "2", "4"]) expect(svg).toContain(`>${t}</text>`);
  });
});
