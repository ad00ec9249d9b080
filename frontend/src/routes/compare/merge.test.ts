import type { Evaluation } from "../../queries/evaluations";
import { compareEvaluations, klOf, mergeRuns } from "./merge";

const evaluation = (id: number, skill_id: number | null, accuracy: number, kl: number | null = null): Evaluation => ({
  id,
  checkpoint_id: 1,
  skill_id,
  kind: skill_id === null ? "general" : "skill",
  job_id: 1,
  scorer: "contains",
  accuracy,
  n: 10,
  pass_at_k: {},
  kl_from_base: kl,
  created_at: "2026-11-28T10:00:00Z",
});

describe("compare", () => {
  it("puts two runs' steps on one axis", () => {
    const rows = mergeRuns(
      [{ step: 1, attempt: 1, metrics: { loss: 2 } }, { step: 2, attempt: 1, metrics: { loss: 1.5 } }],
      [{ step: 2, attempt: 1, metrics: { loss: 0.9 } }, { step: 3, attempt: 1, metrics: { loss: 0.7 } }],
    );
    expect(rows).toEqual([
      { step: 1, "a:loss": 2 },
      { step: 2, "a:loss": 1.5, "b:loss": 0.9 },
      { step: 3, "b:loss": 0.7 },
    ]);
  });

  it("lines evaluations up by skill, the newest winning, the general probe last", () => {
    const rows = compareEvaluations(
      [evaluation(1, null, 0.6, 0.02), evaluation(2, 5, 0.4), evaluation(9, 5, 0.5)],
      [evaluation(3, 5, 0.7), evaluation(4, 6, 0.2), evaluation(5, null, 0.3, 0.11)],
    );
    expect(rows).toEqual([
      { key: "skill:5", skillId: 5, a: 0.5, b: 0.7 },
      { key: "skill:6", skillId: 6, a: null, b: 0.2 },
      { key: "general", skillId: null, a: 0.6, b: 0.3 },
    ]);
    expect(klOf([evaluation(1, null, 0.6, 0.02)])).toBe(0.02);
    expect(klOf([])).toBeNull();
  });
});
