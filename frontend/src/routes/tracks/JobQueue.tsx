import { useState, type DragEvent } from "react";
import { Link } from "react-router";
import { JobStateBadge } from "../../components/JobStateBadge";
import { ProgressBar } from "../../components/Progress";
import { EmptyState } from "../../components/states";
import { timeAgo } from "../../lib/format";
import type { Job } from "../../queries/tracks";

/** Moves `id` to `targetIndex` in `ids` (pure; the queue's drag, drop and keyboard moves use it). */
export function moveTo(ids: number[], id: number, targetIndex: number): number[] {
  const without = ids.filter((other) => other !== id);
  const index = Math.max(0, Math.min(targetIndex, without.length));
  return [...without.slice(0, index), id, ...without.slice(index)];
}

/**
 * The running job with its progress, the queued jobs in order (drag a row, or use its arrow
 * buttons, to reorder), and the finished ones.
 */
export function JobQueue({
  jobs,
  skillName,
  onReorder,
  onCancel,
  cancelling,
}: {
  jobs: Job[];
  skillName: (skillId: number | null) => string;
  onReorder: (jobIds: number[]) => void;
  onCancel: (job: Job) => void;
  cancelling: number | null;
}) {
  const training = jobs.filter((job) => job.kind === "train");
  const running = training.filter((job) => job.state === "running");
  const queued = training.filter((job) => job.state === "queued").sort((a, b) => a.position - b.position);
  const finished = training
    .filter((job) => job.state !== "running" && job.state !== "queued")
    .sort((a, b) => b.id - a.id);
  const evaluations = jobs.filter((job) => job.kind !== "train" && (job.state === "running" || job.state === "queued"));
  const [dragged, setDragged] = useState<number | null>(null);
  const [dropIndex, setDropIndex] = useState<number | null>(null);
  const queuedIds = queued.map((job) => job.id);

  function onDrop(event: DragEvent, index: number) {
    event.preventDefault();
    if (dragged !== null) {
      const next = moveTo(queuedIds, dragged, index > queuedIds.indexOf(dragged) ? index - 1 : index);
      if (next.join() !== queuedIds.join()) onReorder(next);
    }
    setDragged(null);
    setDropIndex(null);
  }

  if (training.length === 0)
    return <EmptyState title="Nothing queued">Queue a skill: it starts from the head checkpoint when its turn comes.</EmptyState>;

  return (
    <div className="queue">
      {running.map((job) => (
        <div key={job.id} className="queue-running" data-testid="running-job">
          <div className="row">
            <JobStateBadge state={job.state} cancelRequested={job.cancel_requested} />
            <Link to={`/jobs/${job.id}`} className="queue-title">
              Job #{job.id} · {skillName(job.skill_id)}
            </Link>
            <span className={`badge method-${job.method}`}>{job.method}</span>
            <span className="spacer" />
            <span className="small muted">from #{job.start_checkpoint_id ?? "head"}</span>
            <button type="button" className="btn small danger" disabled={job.cancel_requested || cancelling === job.id} onClick={() => onCancel(job)}>
              {job.cancel_requested ? "Cancelling…" : "Cancel"}
            </button>
          </div>
          <ProgressBar
            fraction={job.total_steps ? job.last_step / job.total_steps : null}
            label={job.total_steps ? `step ${job.last_step} of ${job.total_steps}` : "loading the model…"}
          />
        </div>
      ))}
      {queued.length > 0 && (
        <>
          <h3 className="queue-heading">
            Queued <span className="muted small">runs top to bottom · drag or use the arrows to reorder</span>
          </h3>
          <ol className="queue-list" aria-label="Queued jobs">
            {queued.map((job, index) => (
              <li
                key={job.id}
                className={["queue-item", dragged === job.id ? "dragging" : "", dropIndex === index ? "drop-before" : ""].join(" ")}
                draggable
                onDragStart={(event) => {
                  setDragged(job.id);
                  event.dataTransfer.effectAllowed = "move";
                  event.dataTransfer.setData("text/plain", String(job.id));
                }}
                onDragOver={(event) => {
                  event.preventDefault();
                  const box = event.currentTarget.getBoundingClientRect();
                  setDropIndex(event.clientY < box.top + box.height / 2 ? index : index + 1);
                }}
                onDrop={(event) => onDrop(event, dropIndex ?? index)}
                onDragEnd={() => (setDragged(null), setDropIndex(null))}
              >
                <span className="drag-handle" aria-hidden="true">
                  ⋮⋮
                </span>
                <span className="mono muted">{index + 1}.</span>
                <Link to={`/jobs/${job.id}`}>
                  Job #{job.id} · {skillName(job.skill_id)}
                </Link>
                <span className={`badge method-${job.method}`}>{job.method}</span>
                <span className="spacer" />
                <span className="small faint">{timeAgo(job.created_at)}</span>
                <button
                  type="button"
                  className="btn small ghost"
                  aria-label={`Move job ${job.id} up`}
                  disabled={index === 0}
                  onClick={() => onReorder(moveTo(queuedIds, job.id, index - 1))}
                >
                  ↑
                </button>
                <button
                  type="button"
                  className="btn small ghost"
                  aria-label={`Move job ${job.id} down`}
                  disabled={index === queued.length - 1}
                  onClick={() => onReorder(moveTo(queuedIds, job.id, index + 1))}
                >
                  ↓
                </button>
                <button type="button" className="btn small danger" disabled={cancelling === job.id} onClick={() => onCancel(job)}>
                  Cancel
                </button>
              </li>
            ))}
            {dropIndex === queued.length && <li className="queue-item drop-before placeholder" aria-hidden="true" />}
          </ol>
        </>
      )}
      {evaluations.length > 0 && (
        <p className="small muted queue-heading">
          {evaluations.length} evaluation {evaluations.length === 1 ? "job" : "jobs"} pending (the regression matrix fills in as they finish).
        </p>
      )}
      {finished.length > 0 && (
        <>
          <h3 className="queue-heading">History</h3>
          <div className="table-wrap">
            <table className="data" aria-label="Finished jobs">
              <thead>
                <tr>
                  <th>Job</th>
                  <th>Skill</th>
                  <th>Method</th>
                  <th>State</th>
                  <th className="num">Steps</th>
                  <th>Checkpoint</th>
                  <th>Finished</th>
                </tr>
              </thead>
              <tbody>
                {finished.map((job) => (
                  <tr key={job.id}>
                    <td>
                      <Link to={`/jobs/${job.id}`}>#{job.id}</Link>
                    </td>
                    <td>{skillName(job.skill_id)}</td>
                    <td>
                      <span className={`badge method-${job.method}`}>{job.method}</span>
                    </td>
                    <td>
                      <JobStateBadge state={job.state} />
                      {job.error && (
                        <div className="small bad-text clip-2" title={job.error}>
                          {job.error}
                        </div>
                      )}
                    </td>
                    <td className="num">
                      {job.last_step}/{job.total_steps || "?"}
                    </td>
                    <td className="mono">{job.result_checkpoint_id ? `#${job.result_checkpoint_id}` : "—"}</td>
                    <td className="muted nowrap">{timeAgo(job.finished_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}
