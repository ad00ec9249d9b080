import { Link } from "react-router";
import { textColorOn } from "../../lib/tokenColors";
import { formatMetric } from "../../lib/format";
import type { MatrixCell, RegressionMatrix } from "../../queries/evaluations";
import { cellBackground, cellKind, klBackground, orderedRows, percent, points } from "./heat";

export interface CellChoice {
  evaluationId: number;
  title: string;
}

interface SkillColumn {
  id: number;
  name: string;
}

function skillColumns(matrix: RegressionMatrix): SkillColumn[] {
  return matrix.skills.map((skill) => ({ id: Number(skill.id), name: String(skill.name ?? `skill ${String(skill.id)}`) }));
}

/**
 * Checkpoints (rows, in tree order) × skills, the general probe and the KL from the base. A skill's
 * cells are coloured by the change since it was learned (red: forgotten, blue: improved); cells
 * before it was learned stay neutral.
 */
export function MatrixTable({
  matrix,
  trackId,
  onChoose,
  label,
}: {
  matrix: RegressionMatrix;
  trackId: number;
  onChoose: (choice: CellChoice) => void;
  label?: (skillId: number | null) => string;
}) {
  const skills = skillColumns(matrix);
  const rows = orderedRows(matrix);
  const cells = new Map(matrix.cells.map((cell) => [`${cell.checkpoint_id}:${cell.skill_id}`, cell]));
  const maxKl = Math.max(0, ...rows.map((row) => row.kl_from_base ?? 0));
  const skillName = (id: number | null) => (id === null ? "base model" : (skills.find((s) => s.id === id)?.name ?? label?.(id) ?? `skill ${id}`));

  return (
    <div className="table-wrap">
      <table className="data matrix" aria-label="Regression matrix">
        <thead>
          <tr>
            <th>Checkpoint</th>
            {skills.map((skill) => (
              <th key={skill.id} className="skill-col" title={skill.name}>
                {skill.name}
              </th>
            ))}
            <th className="probe-col">General probe</th>
            <th className="num">KL from base</th>
            <th className="num" title="mean accuracy over the skills learned so far on this path">
              Avg acc
            </th>
            <th className="num" title="backward transfer: mean change of earlier skills since each was learned">
              BWT
            </th>
            <th className="num" title="forgetting: mean drop of earlier skills below their best">
              Forgetting
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.checkpoint_id} className={row.is_head ? "head-row" : undefined}>
              <th scope="row" className="matrix-row-head">
                <span style={{ paddingLeft: row.depth * 12 }} className="row" title={row.method ?? "base"}>
                  <Link to={`/tracks/${trackId}?checkpoint=${row.checkpoint_id}`} className="mono">
                    #{row.checkpoint_id}
                  </Link>
                  <span className="clip-name">{skillName(row.skill_id)}</span>
                  {row.method && <span className={`badge method-${row.method}`}>{row.method}</span>}
                  {row.is_head && <span className="badge head">HEAD</span>}
                </span>
              </th>
              {skills.map((skill) => (
                <MatrixCellView
                  key={skill.id}
                  cell={cells.get(`${row.checkpoint_id}:${skill.id}`)}
                  onChoose={(evaluationId) => onChoose({ evaluationId, title: `${skill.name} at checkpoint #${row.checkpoint_id}` })}
                />
              ))}
              <GeneralCell
                accuracy={row.general_accuracy}
                change={row.general_change_from_root}
                evaluationId={row.general_evaluation_id}
                onChoose={(evaluationId) => onChoose({ evaluationId, title: `General probe at checkpoint #${row.checkpoint_id}` })}
              />
              <td className="num mono" style={{ background: klBackground(row.kl_from_base, maxKl), color: textColorOn(klBackground(row.kl_from_base, maxKl) ?? "rgb(255,255,255)") }}>
                {formatMetric(row.kl_from_base, 3)}
              </td>
              <td className="num mono">{percent(row.average_accuracy)}</td>
              <td className={`num mono ${(row.backward_transfer ?? 0) < 0 ? "bad-text" : ""}`}>{points(row.backward_transfer) || "—"}</td>
              <td className={`num mono ${(row.forgetting ?? 0) > 0 ? "bad-text" : ""}`}>{row.forgetting === null ? "—" : points(row.forgetting).replace("+", "")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function MatrixCellView({ cell, onChoose }: { cell: MatrixCell | undefined; onChoose: (evaluationId: number) => void }) {
  const kind = cellKind(cell);
  const background = cellBackground(cell);
  const style = background ? { background, color: textColorOn(background) } : undefined;
  if (kind === "missing")
    return (
      <td className="cell missing" title="not evaluated yet">
        ·
      </td>
    );
  const content = (
    <>
      <span className="acc">{percent(cell!.accuracy)}</span>
      {kind === "after" && <span className="delta">{points(cell!.change_since_learned)}</span>}
      {kind === "learned-here" && <span className="delta">learned</span>}
    </>
  );
  const description = `${percent(cell!.accuracy)}${kind === "after" ? `, ${points(cell!.change_since_learned)} points since learned` : kind === "learned-here" ? ", learned here" : ", before it was learned"}`;
  return (
    <td className={`cell ${kind}`} style={style}>
      {cell!.evaluation_id !== null ? (
        <button type="button" className="cell-button" aria-label={`${description}: open the samples`} onClick={() => onChoose(cell!.evaluation_id!)}>
          {content}
        </button>
      ) : (
        <span aria-label={description}>{content}</span>
      )}
    </td>
  );
}

function GeneralCell({
  accuracy,
  change,
  evaluationId,
  onChoose,
}: {
  accuracy: number | null;
  change: number | null;
  evaluationId: number | null;
  onChoose: (evaluationId: number) => void;
}) {
  if (accuracy === null) return <td className="cell missing">·</td>;
  const background = cellBackground({ checkpoint_id: 0, skill_id: 0, accuracy, learned_at: -1, change_since_learned: change ?? 0, evaluation_id: evaluationId });
  const style = background ? { background, color: textColorOn(background) } : undefined;
  const content = (
    <>
      <span className="acc">{percent(accuracy)}</span>
      {change !== null && <span className="delta">{points(change)}</span>}
    </>
  );
  return (
    <td className="cell probe" style={style}>
      {evaluationId !== null ? (
        <button type="button" className="cell-button" aria-label={`general probe ${percent(accuracy)}: open the samples`} onClick={() => onChoose(evaluationId)}>
          {content}
        </button>
      ) : (
        content
      )}
    </td>
  );
}
