import { scaleFor, textColorOn, tokenColor, tokenValue, visibleToken, type TokenTrace } from "./tokenColors";

const token = (student: number, teacher: number, divergence = 0.1): TokenTrace => ({
  token: "x",
  student_logprob: student,
  teacher_logprob: teacher,
  divergence,
  student_top: [],
  teacher_top: [],
});

describe("token colour scales", () => {
  it("centres the diverging scale on agreement", () => {
    const tokens = [token(-2, -1), token(-1, -3), token(-0.5, -0.5)];
    const scale = scaleFor(tokens, "delta");
    expect(scale.min).toBe(-scale.max);
    expect(tokenValue(tokens[0]!, "delta")).toBe(1);
    expect(tokenColor(0, scale)).toBe("rgb(247, 247, 247)");
    // teacher prefers the token: blue channel dominates; teacher dislikes it: red dominates
    const [r1, , b1] = tokenColor(scale.max, scale).match(/\d+/g)!.map(Number);
    const [r2, , b2] = tokenColor(scale.min, scale).match(/\d+/g)!.map(Number);
    expect(b1!).toBeGreaterThan(r1!);
    expect(r2!).toBeGreaterThan(b2!);
    // beyond the scale's bound the colour saturates rather than wrapping
    expect(tokenColor(scale.max * 10, scale)).toBe(tokenColor(scale.max, scale));
  });

  it("ignores one extreme token when sizing the scale", () => {
    const tokens = [...Array.from({ length: 40 }, () => token(-1, -0.8)), token(-20, 0)];
    expect(scaleFor(tokens, "delta").max).toBeLessThan(5);
  });

  it("runs log-probs from pale (certain) to dark (unlikely)", () => {
    const scale = scaleFor([token(-0.1, -0.2), token(-6, -5)], "student");
    expect(scale.max).toBe(0);
    expect(textColorOn(tokenColor(0, scale))).toBe("#1d2127");
    expect(textColorOn(tokenColor(scale.min, scale))).toBe("#ffffff");
  });

  it("shows whitespace tokens", () => {
    expect(visibleToken("\n")).toBe("↵");
    expect(visibleToken("")).toBe("∅");
    expect(visibleToken(" the")).toBe(" the");
  });
});
