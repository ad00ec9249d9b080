import { divergingColor, sequentialColor } from "../../lib/tokenColors";
import type { CheckpointRow, MatrixCell, RegressionMatrix } from "../../queries/evaluations";

/** A change of this many accuracy points (0.25 = 25 points) or more gets the full colour. */
export const CHANGE_BOUND = 0.25;

export type CellKind = "unlearned" | "learned-here" | "after" | "missing";

export function cellKind(cell: MatrixCell | undefined): CellKind {
  if (!cell || cell.accuracy === null) return "missing";
  if (cell.learned_at === null) return "unlearned";
  if (cell.learned_at === cell.checkpoint_id) return "learned-here";
  return "after";
}

/** The cell's background: by change since the skill was learned; neutral before it was learned. */
export function cellBackground(cell: MatrixCell | undefined): string | undefined {
  const kind = cellKind(cell);
  if (kind === "missing" || kind === "unlearned") return undefined;
  return divergingColor((cell!.change_since_learned ?? 0) / CHANGE_BOUND);
}

export function klBackground(kl: number | null, maxKl: number): string | undefined {
  if (kl === null || maxKl <= 0) return undefined;
  return sequentialColor(kl / maxKl);
}

export function percent(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : `${Math.round(value * 100)}%`;
}

/** A signed change in accuracy points: +5, −12, 0. */
export function points(change: number | null | undefined): string {
  if (change === null || change === undefined) return "";
  const rounded = Math.round(change * 100);
  if (rounded === 0) return "±0";
  return rounded > 0 ? `+${rounded}` : `−${Math.abs(rounded)}`;
}

/** Rows in tree order (base first, each branch after its parent), as the tree page draws them. */
export function orderedRows(matrix: RegressionMatrix): CheckpointRow[] {
  const children = new Map<number | null, CheckpointRow[]>();
  const ids = new Set(matrix.checkpoints.map((row) => row.checkpoint_id));
  for (const row of matrix.checkpoints) {
    const parent = row.parent_id !== null && ids.has(row.parent_id) ? row.parent_id : null;
    children.set(parent, [...(children.get(parent) ?? []), row]);
  }
  const ordered: CheckpointRow[] = [];
  const visit = (row: CheckpointRow) => {
    ordered.push(row);
    for (const child of (children.get(row.checkpoint_id) ?? []).sort((a, b) => a.checkpoint_id - b.checkpoint_id)) visit(child);
  };
  for (const root of (children.get(null) ?? []).sort((a, b) => a.checkpoint_id - b.checkpoint_id)) visit(root);
  return ordered;
}
