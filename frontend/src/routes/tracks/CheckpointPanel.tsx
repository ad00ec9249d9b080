import { useState } from "react";
import { Link } from "react-router";
import { Modal } from "../../components/Modal";
import { ErrorState, Loading } from "../../components/states";
import { formatBytes, formatDate, formatMetric } from "../../lib/format";
import { useCheckpointEvaluations, useQueueEvaluation } from "../../queries/evaluations";
import { useCheckpoint, usePromote, useRollback, type TrackDetail } from "../../queries/tracks";
import { PromotionBadge } from "./CheckpointTree";
import { describeMemoryEstimate } from "./memory";
import { describeRollback } from "./rollback";

const KEY_METRICS = ["loss", "divergence", "nll", "student_logprob", "teacher_logprob", "entropy", "grad_norm"];

export function CheckpointPanel({
  track,
  checkpointId,
  skillName,
  jobsUnfinished,
}: {
  track: TrackDetail;
  checkpointId: number;
  skillName: (skillId: number | null) => string;
  /** A job of the track is queued or running: its evaluations may still land on this checkpoint. */
  jobsUnfinished: boolean;
}) {
  const checkpoint = useCheckpoint(checkpointId);
  const rollback = useRollback(track.id);
  const evaluate = useQueueEvaluation(track.id);
  const evaluations = useCheckpointEvaluations(checkpointId, { live: jobsUnfinished });
  const [confirming, setConfirming] = useState(false);
  const [forcing, setForcing] = useState(false);
  const promote = usePromote(track.id);
  const node = track.checkpoints.find((c) => c.id === checkpointId);
  if (checkpoint.isPending) return <Loading label="Loading checkpoint…" />;
  if (checkpoint.isError) return <ErrorState error={checkpoint.error} onRetry={() => void checkpoint.refetch()} />;
  const data = checkpoint.data;
  const isHead = track.head_checkpoint_id === data.id;
  const label = data.kind === "base" ? `base ${track.base_model}` : skillName(data.skill_id);
  const files = Array.isArray(data.manifest.files) ? (data.manifest.files as { size?: number }[]) : [];
  const totalBytes = files.reduce((sum, file) => sum + (typeof file.size === "number" ? file.size : 0), 0);
  const running = track.running_job_id !== null;
  const memory = describeMemoryEstimate(data.manifest);
  const lines = node
    ? describeRollback({
        checkpoints: track.checkpoints,
        headId: track.head_checkpoint_id,
        targetId: data.id,
        queuedJobs: track.queued_job_ids.length,
        label: (c) => (c.kind === "base" ? "base model" : skillName(c.skill_id)),
      })
    : [];

  return (
    <div className="stack" aria-label={`Checkpoint ${data.id}`}>
      <div className="row">
        <h3 className="mono">#{data.id}</h3>
        <strong>{label}</strong>
        {data.method && <span className={`badge method-${data.method}`}>{data.method}</span>}
        {isHead && <span className="badge head">HEAD</span>}
        {data.promotion && data.promotion !== "promoted" && <PromotionBadge state={data.promotion} />}
      </div>
      {(data.promotion === "held" || data.promotion === "pending" || data.promotion === "forced") && (
        <PromotionNotice state={data.promotion} report={data.promotion_report ?? {}} skillName={skillName} />
      )}
      <dl className="kv small">
        <dt>Created</dt>
        <dd>{formatDate(data.created_at)}</dd>
        <dt>Parent</dt>
        <dd className="mono">{data.parent_id ? `#${data.parent_id}` : "—"}</dd>
        {data.job_id && (
          <>
            <dt>Trained by</dt>
            <dd>
              <Link to={`/jobs/${data.job_id}`}>job #{data.job_id}</Link>
            </dd>
          </>
        )}
        {data.skill_id && (
          <>
            <dt>Data</dt>
            <dd>
              <Link to={`/skills/${data.skill_id}/versions/${data.dataset_version_id}`}>dataset version #{data.dataset_version_id}</Link>
            </dd>
          </>
        )}
        {files.length > 0 && (
          <>
            <dt>Files</dt>
            <dd>
              {files.length} files{totalBytes ? `, ${formatBytes(totalBytes)}` : ""} · sha256 in manifest
            </dd>
          </>
        )}
        {memory && (
          <>
            <dt>Memory</dt>
            <dd>{memory}</dd>
          </>
        )}
        {KEY_METRICS.filter((key) => typeof data.metrics[key] === "number").map((key) => (
          <MetricRow key={key} name={key} value={data.metrics[key] as number} />
        ))}
      </dl>
      <div className="row">
        {!isHead && (data.promotion === "held" || data.promotion === "pending") && (
          <button type="button" className="btn small danger" disabled={running} onClick={() => setForcing(true)}>
            Promote anyway
          </button>
        )}
        {!isHead && data.promotion !== "held" && data.promotion !== "pending" && (
          <button
            type="button"
            className="btn primary small"
            disabled={running}
            title={running ? "A job is running on this track: roll back after it ends or cancel it" : undefined}
            onClick={() => setConfirming(true)}
          >
            Roll back here
          </button>
        )}
        <a className="btn small" href={`/api/checkpoints/${data.id}/download`} download>
          Download
        </a>
        <button type="button" className="btn small" disabled={evaluate.isPending} onClick={() => evaluate.mutate(data.id)}>
          {evaluate.isPending ? "Queueing…" : "Evaluate"}
        </button>
      </div>
      {running && !isHead && <p className="small muted">Rollback is unavailable while a job runs on this track.</p>}
      {evaluate.isSuccess && (
        <p className="small ok-text" role="status">
          Evaluation queued as job #{evaluate.data.id}; the regression matrix fills in when it ends.
        </p>
      )}
      {evaluate.isError && <ErrorState error={evaluate.error} />}
      {evaluations.data && evaluations.data.length > 0 && (
        <table className="data small" aria-label="Evaluations of this checkpoint">
          <thead>
            <tr>
              <th>Evaluated on</th>
              <th className="num">Accuracy</th>
              <th className="num">n</th>
            </tr>
          </thead>
          <tbody>
            {evaluations.data.map((evaluation) => (
              <tr key={evaluation.id}>
                <td>{evaluation.skill_id === null ? "general probe" : skillName(evaluation.skill_id)}</td>
                <td className="num mono">{Math.round(evaluation.accuracy * 100)}%</td>
                <td className="num mono muted">{evaluation.n}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {Object.keys(data.config).length > 0 && (
        <details>
          <summary className="small">Training config</summary>
          <pre className="block">{JSON.stringify(data.config, null, 2)}</pre>
        </details>
      )}
      {forcing && (
        <Modal
          title={`Promote #${data.id} past the retention budget?`}
          onClose={() => (setForcing(false), promote.reset())}
          footer={
            <>
              <button type="button" className="btn" onClick={() => setForcing(false)}>
                Keep it held
              </button>
              <button
                type="button"
                className="btn danger solid"
                disabled={promote.isPending}
                onClick={() => promote.mutate({ checkpointId: data.id, force: true }, { onSuccess: () => setForcing(false) })}
              >
                {promote.isPending ? "Promoting…" : `Make #${data.id} the head`}
              </button>
            </>
          }
        >
          <ul className="change-list">
            {lines.slice(0, 1).map((line) => (
              <li key={line}>{line}</li>
            ))}
            <li>
              {data.promotion === "pending"
                ? "Its evaluation has not finished: nobody knows yet what it cost the earlier skills."
                : "Its evaluation broke the track's retention budget (above)."}
            </li>
            <li>Your name and the time are recorded on the checkpoint and its training job.</li>
          </ul>
          {promote.isError && <ErrorState error={promote.error} title="Promotion refused" />}
        </Modal>
      )}
      {confirming && (
        <Modal
          title={`Roll back to #${data.id}?`}
          onClose={() => (setConfirming(false), rollback.reset())}
          footer={
            <>
              <button type="button" className="btn" onClick={() => setConfirming(false)}>
                Keep the head where it is
              </button>
              <button
                type="button"
                className="btn primary"
                disabled={rollback.isPending}
                onClick={() =>
                  rollback.mutate(
                    { checkpoint_id: data.id, expected_head_id: track.head_checkpoint_id },
                    { onSuccess: () => setConfirming(false) },
                  )
                }
              >
                {rollback.isPending ? "Rolling back…" : `Roll back to #${data.id}`}
              </button>
            </>
          }
        >
          <ul className="change-list" data-testid="rollback-changes">
            {lines.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
          {rollback.isError && <ErrorState error={rollback.error} title="Rollback refused" />}
        </Modal>
      )}
    </div>
  );
}

function MetricRow({ name, value }: { name: string; value: number }) {
  return (
    <>
      <dt>{name} (last step)</dt>
      <dd className="mono">{formatMetric(value)}</dd>
    </>
  );
}

interface Violation {
  kind?: string;
  skill_id?: number | null;
  before?: number;
  after?: number;
  change?: number;
  allowed?: number;
}

function PromotionNotice({
  state,
  report,
  skillName,
}: {
  state: string;
  report: Record<string, unknown>;
  skillName: (skillId: number | null) => string;
}) {
  const violations = Array.isArray(report.violations) ? (report.violations as Violation[]) : [];
  const tone = state === "held" ? "bad" : state === "forced" ? "warn" : "";
  const pct = (value: number | undefined) => (typeof value === "number" ? `${Math.round(value * 100)}%` : "—");
  return (
    <div className={`notice ${tone} stack`} style={{ gap: 4 }} role="status">
      <span>
        {typeof report.message === "string"
          ? report.message
          : state === "pending"
            ? "Waiting for its evaluation: it becomes the head if the retention budget holds."
            : state}
      </span>
      {violations.length > 0 && (
        <ul className="change-list small">
          {violations.map((violation, index) => (
            <li key={index}>
              {violation.kind === "general" ? "general probe" : skillName(violation.skill_id ?? null)}: {pct(violation.before)} → {pct(violation.after)}{" "}
              (allowed drop {pct(violation.allowed)})
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
