import type { ChartRow } from "../../components/MetricChart";
import type { StepMetrics } from "../../queries/jobs";
import type { Evaluation } from "../../queries/evaluations";

/** Two runs' step metrics on one step axis: `a:loss`, `b:loss`, ... per step. */
export function mergeRuns(a: StepMetrics[], b: StepMetrics[]): ChartRow[] {
  const rows = new Map<number, ChartRow>();
  const add = (prefix: string, steps: StepMetrics[]) => {
    for (const step of steps) {
      const row = rows.get(step.step) ?? { step: step.step };
      for (const [key, value] of Object.entries(step.metrics)) if (typeof value === "number") row[`${prefix}:${key}`] = value;
      rows.set(step.step, row);
    }
  };
  add("a", a);
  add("b", b);
  return [...rows.values()].sort((x, y) => x.step - y.step);
}

export interface ComparedRow {
  key: string;
  skillId: number | null;
  a: number | null;
  b: number | null;
}

/** Accuracy per skill (and the general probe) of two checkpoints, side by side. */
export function compareEvaluations(a: Evaluation[], b: Evaluation[]): ComparedRow[] {
  const keyOf = (evaluation: Evaluation) => (evaluation.skill_id === null ? "general" : `skill:${evaluation.skill_id}`);
  const rows = new Map<string, ComparedRow>();
  const add = (side: "a" | "b", list: Evaluation[]) => {
    // The newest evaluation of a checkpoint on a skill wins (re-evaluations replace older numbers).
    for (const evaluation of [...list].sort((x, y) => x.id - y.id)) {
      const key = keyOf(evaluation);
      const row = rows.get(key) ?? { key, skillId: evaluation.skill_id, a: null, b: null };
      row[side] = evaluation.accuracy;
      rows.set(key, row);
    }
  };
  add("a", a);
  add("b", b);
  return [...rows.values()].sort((x, y) => (x.skillId === null ? 1 : y.skillId === null ? -1 : x.skillId - y.skillId));
}

export function klOf(list: Evaluation[]): number | null {
  const general = [...list].sort((x, y) => y.id - x.id).find((evaluation) => evaluation.kl_from_base !== null);
  return general?.kl_from_base ?? null;
}
