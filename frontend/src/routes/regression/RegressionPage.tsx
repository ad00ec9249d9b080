import { useState } from "react";
import { Link } from "react-router";
import { PageHeader } from "../../components/PageHeader";
import { Stat } from "../../components/Stat";
import { EmptyState, ErrorState, Loading } from "../../components/states";
import { formatMetric } from "../../lib/format";
import { useNumericParam } from "../../lib/params";
import { DIVERGING_STOPS } from "../../lib/tokenColors";
import { useRegression } from "../../queries/evaluations";
import { hasUnfinishedJobs, useTrack, useTrackJobs } from "../../queries/tracks";
import { CHANGE_BOUND, percent, points } from "./heat";
import { MatrixTable, type CellChoice } from "./MatrixTable";
import { SamplesDialog } from "./SamplesDialog";

export function RegressionPage() {
  const trackId = useNumericParam("trackId");
  if (trackId === null) return <ErrorState title="Not found" error={new Error("This is not a track id.")} />;
  return <Regression trackId={trackId} />;
}

function Regression({ trackId }: { trackId: number }) {
  const track = useTrack(trackId);
  // Evaluation jobs run after training jobs: poll while any job of the track (of either kind) is unfinished.
  const jobs = useTrackJobs(trackId);
  const busy = hasUnfinishedJobs(jobs.data);
  const matrix = useRegression(trackId, { live: busy });
  const [choice, setChoice] = useState<CellChoice | null>(null);
  const crumbs = [
    { label: "Tracks", to: "/tracks" },
    { label: track.data?.name ?? `Track ${trackId}`, to: `/tracks/${trackId}` },
  ];
  const header = (
    <PageHeader title="Regression matrix" crumbs={crumbs}>
      After every checkpoint each skill's evaluation and a general probe are re-run: read a column down to see what later skills did to
      an earlier one.
    </PageHeader>
  );
  if (matrix.isPending) return (<div className="page">{header}<Loading label="Loading the matrix…" /></div>);
  if (matrix.isError)
    return (
      <div className="page">
        {header}
        <ErrorState error={matrix.error} onRetry={() => void matrix.refetch()} />
      </div>
    );
  const data = matrix.data;
  const head = data.checkpoints.find((row) => row.is_head);
  const skillNames = new Map(data.skills.map((skill) => [Number(skill.id), String(skill.name)]));
  const violations = data.checkpoints.flatMap((row) =>
    (row.retention_violations ?? []).map((violation) => ({
      checkpoint: row.checkpoint_id,
      skill: skillNames.get(Number(violation.skill_id)) ?? `skill ${String(violation.skill_id)}`,
      before: Number(violation.accuracy_when_learned),
      after: Number(violation.accuracy),
    })),
  );
  const nothingYet = data.cells.every((cell) => cell.accuracy === null) && data.checkpoints.every((row) => row.general_accuracy === null);

  return (
    <div className="page">
      {header}
      {head && (
        <div className="stats" aria-label="Summary at the head">
          <Stat label="Head" value={`#${head.checkpoint_id}`} />
          <Stat label="Average accuracy" value={percent(head.average_accuracy)} />
          <Stat label="Backward transfer" value={points(head.backward_transfer) || "—"} tone={(head.backward_transfer ?? 0) < 0 ? "bad" : undefined} />
          <Stat label="Forgetting" value={head.forgetting === null ? "—" : `${Math.round(head.forgetting * 100)} pts`} tone={(head.forgetting ?? 0) > 0 ? "bad" : undefined} />
          <Stat label="General probe" value={percent(head.general_accuracy)} />
          <Stat label="KL from base" value={formatMetric(head.kl_from_base, 3)} />
        </div>
      )}
      {violations.length > 0 && (
        <div className="notice bad" role="status">
          <ul className="change-list small">
            {violations.map((violation, index) => (
              <li key={index}>
                Checkpoint #{violation.checkpoint}: {violation.skill} fell from {percent(violation.before)} to {percent(violation.after)} since it
                was learned.
              </li>
            ))}
          </ul>
        </div>
      )}
      <section className="card">
        <div className="card-header">
          <h2>Checkpoints × skills</h2>
          <div className="matrix-legend small muted">
            <div className="legend" aria-label={`Change since learned, from −${CHANGE_BOUND * 100} to +${CHANGE_BOUND * 100} points`}>
              <div className="legend-bar" style={{ background: `linear-gradient(to right, ${DIVERGING_STOPS.join(", ")})` }} />
              <div className="legend-ticks">
                <span>−{CHANGE_BOUND * 100} pts</span>
                <span>change since learned</span>
                <span>+{CHANGE_BOUND * 100} pts</span>
              </div>
            </div>
            <span>
              <span className="swatch-box" style={{ background: "repeating-linear-gradient(135deg, #fafbfc, #fafbfc 3px, #e9ebee 3px, #e9ebee 6px)" }} />
              not learned yet
            </span>
            <span>
              <span className="swatch-box" style={{ boxShadow: "inset 0 0 0 2px rgba(29,33,39,.55)" }} />
              learned here
            </span>
          </div>
        </div>
        {data.checkpoints.length <= 1 && data.skills.length === 0 ? (
          <EmptyState title="Nothing to compare yet" action={<Link className="btn primary" to={`/tracks/${trackId}`}>Queue a skill</Link>}>
            Train a skill on this track; its checkpoint is then evaluated on every skill and the general probe.
          </EmptyState>
        ) : (
          <>
            {nothingYet && (
              <p className="small muted" style={{ padding: "10px 14px 0" }}>
                No evaluation has finished yet{busy ? ": the matrix fills in as the jobs end." : ". Evaluate a checkpoint from the track page."}
              </p>
            )}
            <MatrixTable matrix={data} trackId={trackId} onChoose={setChoice} />
          </>
        )}
      </section>
      {choice && <SamplesDialog evaluationId={choice.evaluationId} title={choice.title} onClose={() => setChoice(null)} />}
    </div>
  );
}
