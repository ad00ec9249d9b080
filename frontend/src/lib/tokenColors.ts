/**
 * Colour scales for the token inspector. Pure functions, so the legend and the tokens always agree
 * and the scales are tested.
 */

export type ColorMode = "delta" | "divergence" | "student" | "teacher";

export interface TokenTrace {
  token: string;
  token_id?: number;
  student_logprob: number;
  teacher_logprob: number;
  divergence: number;
  student_top: [string, number][];
  teacher_top: [string, number][];
}

type RGB = [number, number, number];

function hex(color: string): RGB {
  const value = parseInt(color.slice(1), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

function mix(a: RGB, b: RGB, t: number): RGB {
  return [0, 1, 2].map((i) => Math.round(a[i]! + (b[i]! - a[i]!) * t)) as RGB;
}

function css([r, g, b]: RGB): string {
  return `rgb(${r}, ${g}, ${b})`;
}

// ColorBrewer RdBu (colour-blind safe): red = the teacher finds the token less likely than the
// student does (the loss pushes it down), blue = more likely (pushed up), near-white = agreement.
const RED = hex("#b2182b");
const RED_LIGHT = hex("#f4a582");
const NEUTRAL = hex("#f7f7f7");
const BLUE_LIGHT = hex("#92c5de");
const BLUE = hex("#2166ac");
// Sequential (ColorBrewer Purples / Oranges) for magnitudes.
const PURPLE = [hex("#fcfbfd"), hex("#bcbddc"), hex("#54278f")];
const ORANGE = [hex("#fff5eb"), hex("#fdae6b"), hex("#a63603")];

function ramp(stops: RGB[], t: number): RGB {
  const clamped = Math.min(1, Math.max(0, t));
  const scaled = clamped * (stops.length - 1);
  const index = Math.min(Math.floor(scaled), stops.length - 2);
  return mix(stops[index]!, stops[index + 1]!, scaled - index);
}

export function tokenValue(token: TokenTrace, mode: ColorMode): number {
  switch (mode) {
    case "delta":
      return token.teacher_logprob - token.student_logprob;
    case "divergence":
      return token.divergence;
    case "student":
      return token.student_logprob;
    case "teacher":
      return token.teacher_logprob;
  }
}

export interface Scale {
  mode: ColorMode;
  min: number;
  max: number;
  /** The legend's stops, left to right. */
  stops: string[];
}

/** The 95th percentile of |values| (robust against one extreme token), never below `floor`. */
function robustMax(values: number[], floor: number): number {
  if (values.length === 0) return floor;
  const sorted = values.map(Math.abs).sort((a, b) => a - b);
  const p95 = sorted[Math.min(sorted.length - 1, Math.floor(0.95 * (sorted.length - 1)))]!;
  return Math.max(floor, Number(p95.toPrecision(2)));
}

export function scaleFor(tokens: TokenTrace[], mode: ColorMode): Scale {
  const values = tokens.map((token) => tokenValue(token, mode)).filter(Number.isFinite);
  if (mode === "delta") {
    const bound = robustMax(values, 0.5);
    return { mode, min: -bound, max: bound, stops: [RED, RED_LIGHT, NEUTRAL, BLUE_LIGHT, BLUE].map(css) };
  }
  if (mode === "divergence") {
    return { mode, min: 0, max: robustMax(values, 0.1), stops: PURPLE.map(css) };
  }
  // Log-probs: 0 (certain) is pale, very unlikely tokens dark.
  return { mode, min: -robustMax(values, 1), max: 0, stops: [...ORANGE].reverse().map(css) };
}

/** RdBu for a value in [-1, 1]: red below zero, near-white at zero, blue above (clamped). */
export function divergingColor(t: number): string {
  if (!Number.isFinite(t)) return css(NEUTRAL);
  return css(t < 0 ? ramp([NEUTRAL, RED_LIGHT, RED], -t) : ramp([NEUTRAL, BLUE_LIGHT, BLUE], t));
}

/** Purples for a value in [0, 1] (magnitudes such as a KL). */
export function sequentialColor(t: number): string {
  return css(ramp(PURPLE, Number.isFinite(t) ? t : 0));
}

export const DIVERGING_STOPS = [RED, RED_LIGHT, NEUTRAL, BLUE_LIGHT, BLUE].map(css);

/** Background colour of one token under a scale. */
export function tokenColor(value: number, scale: Scale): string {
  if (!Number.isFinite(value)) return css(NEUTRAL);
  if (scale.mode === "delta") {
    const t = value / scale.max; // -1 .. 1
    return css(t < 0 ? ramp([NEUTRAL, RED_LIGHT, RED], -t) : ramp([NEUTRAL, BLUE_LIGHT, BLUE], t));
  }
  if (scale.mode === "divergence") return css(ramp(PURPLE, value / scale.max));
  return css(ramp(ORANGE, value / scale.min)); // value and min both ≤ 0
}

/** Dark text on pale backgrounds, white on strong ones (WCAG relative luminance). */
export function textColorOn(background: string): string {
  const [r, g, b] = (background.match(/\d+/g) ?? ["0", "0", "0"]).map(Number) as RGB;
  const channel = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  return luminance > 0.35 ? "#1d2127" : "#ffffff";
}

/** A token's text made visible: spaces stay, newlines and tabs get a glyph, empty becomes ∅. */
export function visibleToken(text: string): string {
  if (text === "") return "∅";
  return text.replace(/\n/g, "↵").replace(/\t/g, "→");
}

export const MODE_LABELS: Record<ColorMode, string> = {
  delta: "teacher − student log-prob",
  divergence: "per-token divergence",
  student: "student log-prob",
  teacher: "teacher log-prob",
};
