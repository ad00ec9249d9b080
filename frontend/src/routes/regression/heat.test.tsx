import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import type { RegressionMatrix } from "../../queries/evaluations";
import { renderWithProviders } from "../../test/render";
import { cellBackground, cellKind, orderedRows, points } from "./heat";
import { MatrixTable } from "./MatrixTable";

const row = (checkpoint_id: number, parent_id: number | null, skill_id: number | null, extra: Partial<RegressionMatrix["checkpoints"][number]> = {}) => ({
  checkpoint_id,
  parent_id,
  depth: 0,
  job_id: null,
  skill_id,
  method: skill_id === null ? null : "sdft",
  is_head: false,
  general_accuracy: 0.5,
  general_change_from_root: 0,
  general_evaluation_id: 100 + checkpoint_id,
  kl_from_base: 0,
  average_accuracy: null,
  backward_transfer: null,
  forgetting: null,
  retention_violations: [],
  ...extra,
});

// base 1 -> 2 (learns A) -> 3 (learns B, A drops 30 points); rolled back: 4 (learns B from 2)
const matrix: RegressionMatrix = {
  track_id: 1,
  skills: [
    { id: 10, name: "A" },
    { id: 11, name: "B" },
  ],
  checkpoints: [
    row(1, null, null),
    row(2, 1, 10, { depth: 1, average_accuracy: 0.8 }),
    row(4, 2, 11, { depth: 2, is_head: true }),
    row(3, 2, 11, { depth: 2, backward_transfer: -0.3, forgetting: 0.3, kl_from_base: 0.2 }),
  ],
  cells: [
    { checkpoint_id: 1, skill_id: 10, accuracy: 0.1, learned_at: null, change_since_learned: null, evaluation_id: 1 },
    { checkpoint_id: 2, skill_id: 10, accuracy: 0.8, learned_at: 2, change_since_learned: 0, evaluation_id: 2 },
    { checkpoint_id: 3, skill_id: 10, accuracy: 0.5, learned_at: 2, change_since_learned: -0.3, evaluation_id: 3 },
    { checkpoint_id: 3, skill_id: 11, accuracy: 0.9, learned_at: 3, change_since_learned: 0, evaluation_id: 4 },
    { checkpoint_id: 4, skill_id: 10, accuracy: null, learned_at: 2, change_since_learned: null, evaluation_id: null },
  ],
};

describe("regression heat", () => {
  it("classifies cells and colours drops red", () => {
    expect(cellKind(matrix.cells[0])).toBe("unlearned");
    expect(cellKind(matrix.cells[1])).toBe("learned-here");
    expect(cellKind(matrix.cells[2])).toBe("after");
    expect(cellKind(matrix.cells[4])).toBe("missing");
    expect(cellBackground(matrix.cells[0])).toBeUndefined();
    const [r, , b] = cellBackground(matrix.cells[2])!.match(/\d+/g)!.map(Number);
    expect(r!).toBeGreaterThan(b!);
    expect(points(-0.3)).toBe("−30");
    expect(points(0.051)).toBe("+5");
    expect(points(0.001)).toBe("±0");
  });

  it("orders rows as a tree, whatever order they arrive in", () => {
    expect(orderedRows(matrix).map((r) => r.checkpoint_id)).toEqual([1, 2, 3, 4]);
  });

  it("renders the matrix and opens a cell's samples", async () => {
    const onChoose = vi.fn();
    renderWithProviders(<MatrixTable matrix={matrix} trackId={1} onChoose={onChoose} />);
    const table = screen.getByRole("table", { name: "Regression matrix" });
    const rows = within(table).getAllByRole("row");
    expect(rows).toHaveLength(5);
    expect(rows[3]).toHaveTextContent("−30");
    expect(within(rows[4]!).getByText("HEAD")).toBeInTheDocument();
    await userEvent.click(within(rows[3]!).getByRole("button", { name: "50%, −30 points since learned: open the samples" }));
    expect(onChoose).toHaveBeenCalledWith({ evaluationId: 3, title: "A at checkpoint #3" });
    await userEvent.click(within(rows[1]!).getByRole("button", { name: /general probe 50%/ }));
    expect(onChoose).toHaveBeenLastCalledWith({ evaluationId: 101, title: "General probe at checkpoint #1" });
  });
});
