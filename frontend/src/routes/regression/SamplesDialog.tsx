import { useState } from "react";
import { Modal } from "../../components/Modal";
import { ErrorState, Loading } from "../../components/states";
import { useEvaluation } from "../../queries/evaluations";
import { percent } from "./heat";

interface Sample {
  prompt?: string;
  output?: string;
  reference?: string | null;
  correct?: boolean;
  reason?: string;
  category?: string;
}

/** The sample outputs behind one cell of the matrix. */
export function SamplesDialog({ evaluationId, title, onClose }: { evaluationId: number; title: string; onClose: () => void }) {
  const evaluation = useEvaluation(evaluationId);
  const [filter, setFilter] = useState<"all" | "wrong" | "right">("all");
  return (
    <Modal wide title={title} onClose={onClose}>
      {evaluation.isPending ? (
        <Loading label="Loading samples…" />
      ) : evaluation.isError ? (
        <ErrorState error={evaluation.error} />
      ) : (
        <SamplesBody samples={evaluation.data.samples as Sample[]} accuracy={evaluation.data.accuracy} n={evaluation.data.n} scorer={evaluation.data.scorer} filter={filter} setFilter={setFilter} passAtK={evaluation.data.pass_at_k} />
      )}
    </Modal>
  );
}

function SamplesBody({
  samples,
  accuracy,
  n,
  scorer,
  filter,
  setFilter,
  passAtK,
}: {
  samples: Sample[];
  accuracy: number;
  n: number;
  scorer: string;
  filter: "all" | "wrong" | "right";
  setFilter: (filter: "all" | "wrong" | "right") => void;
  passAtK: Record<string, unknown>;
}) {
  const shown = samples.filter((sample) => filter === "all" || (filter === "right") === Boolean(sample.correct));
  const extras = Object.entries(passAtK).filter(([, value]) => typeof value === "number");
  return (
    <div className="stack">
      <div className="row small">
        <span>
          accuracy <b>{percent(accuracy)}</b> of {n} · scorer <code>{scorer}</code>
        </span>
        {extras.map(([key, value]) => (
          <span key={key} className="badge">
            {key} {percent(value as number)}
          </span>
        ))}
        <span className="spacer" />
        <div className="segmented-buttons" role="radiogroup" aria-label="Show samples">
          {(["all", "wrong", "right"] as const).map((key) => (
            <button key={key} type="button" role="radio" aria-checked={filter === key} className={filter === key ? "on" : ""} onClick={() => setFilter(key)}>
              {key}
            </button>
          ))}
        </div>
      </div>
      {samples.length < n && <p className="small muted">{samples.length} of {n} samples were stored.</p>}
      <div className="table-wrap samples">
        <table className="data" aria-label="Samples">
          <thead>
            <tr>
              <th />
              <th>Prompt</th>
              <th>Output</th>
              <th>Reference</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((sample, index) => (
              <tr key={index}>
                <td title={sample.reason}>
                  <span className={sample.correct ? "badge ok" : "badge bad"}>{sample.correct ? "right" : "wrong"}</span>
                  {sample.category && <div className="small muted">{sample.category}</div>}
                </td>
                <td className="cell-text">
                  <span className="clamp">{sample.prompt}</span>
                </td>
                <td className="cell-text mono">
                  <span className="clamp">{sample.output || "∅"}</span>
                  {sample.reason && <div className="small muted">{sample.reason}</div>}
                </td>
                <td className="cell-text mono">{sample.reference ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
