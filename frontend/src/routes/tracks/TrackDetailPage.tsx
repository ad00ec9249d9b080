import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import { PlusIcon } from "../../components/icons";
import { Modal } from "../../components/Modal";
import { PageHeader } from "../../components/PageHeader";
import { EmptyState, ErrorState, Loading, QueryView, SkeletonRows } from "../../components/states";
import { useNumericParam } from "../../lib/params";
import { useSkills } from "../../queries/skills";
import { hasUnfinishedJobs, useCancelJob, useReorderQueue, useSubmitJob, useTrack, useTrackJobs } from "../../queries/tracks";
import { AdaptersPanel } from "./AdaptersPanel";
import { CheckpointPanel } from "./CheckpointPanel";
import { CheckpointTree } from "./CheckpointTree";
import { JobQueue } from "./JobQueue";
import { QueueJobForm } from "./QueueJobForm";
import { describeBudget, RetentionDialog } from "./RetentionDialog";

export function TrackDetailPage() {
  const trackId = useNumericParam("trackId");
  if (trackId === null) return <ErrorState title="Not found" error={new Error("This is not a track id.")} />;
  return <TrackDetail trackId={trackId} />;
}

export function useSkillNames() {
  const skills = useSkills();
  return (skillId: number | null) => {
    if (skillId === null) return "—";
    return skills.data?.find((skill) => skill.id === skillId)?.name ?? `skill ${skillId}`;
  };
}

function TrackDetail({ trackId }: { trackId: number }) {
  const track = useTrack(trackId);
  const jobs = useTrackJobs(trackId);
  const skillName = useSkillNames();
  const submit = useSubmitJob(trackId);
  const reorder = useReorderQueue(trackId);
  const cancel = useCancelJob(trackId);
  const [queueing, setQueueing] = useState(false);
  const [budgeting, setBudgeting] = useState(false);
  const [search, setSearch] = useSearchParams();
  const crumbs = [{ label: "Tracks", to: "/tracks" }];

  if (track.isPending) return <Loading label="Loading track…" />;
  if (track.isError)
    return (
      <div className="page">
        <PageHeader title="Track" crumbs={crumbs} />
        <ErrorState error={track.error} onRetry={() => void track.refetch()} />
      </div>
    );
  const data = track.data;
  const selected = Number(search.get("checkpoint")) || data.head_checkpoint_id;

  return (
    <div className="page">
      <PageHeader
        title={data.name}
        crumbs={crumbs}
        actions={
          <>
            <button type="button" className="btn" onClick={() => setBudgeting(true)}>
              Retention budget
            </button>
            <Link className="btn" to={`/tracks/${trackId}/regression`}>
              Regression matrix
            </Link>
            <button type="button" className="btn primary" onClick={() => setQueueing(true)}>
              <PlusIcon /> Queue a skill
            </button>
          </>
        }
      >
        Base model <code>{data.base_model}</code> · head <code>#{data.head_checkpoint_id ?? "—"}</code> · {data.checkpoints.length}{" "}
        {data.checkpoints.length === 1 ? "checkpoint" : "checkpoints"} ·{" "}
        {describeBudget(data.retention_budget) ? <>retention gate: {describeBudget(data.retention_budget)}</> : "no retention gate"}
      </PageHeader>
      <div className="track-grid">
        <section className="card" aria-labelledby="tree-heading">
          <div className="card-header">
            <h2 id="tree-heading">Checkpoints</h2>
            <span className="small muted">select one to inspect it or roll back to it</span>
          </div>
          {data.checkpoints.length === 0 ? (
            <EmptyState title="No checkpoints" />
          ) : (
            <CheckpointTree
              checkpoints={data.checkpoints}
              headId={data.head_checkpoint_id}
              selectedId={selected}
              skillName={skillName}
              onSelect={(id) => setSearch({ checkpoint: String(id) }, { replace: true })}
            />
          )}
        </section>
        <section className="card" aria-labelledby="checkpoint-heading">
          <div className="card-header">
            <h2 id="checkpoint-heading">Checkpoint</h2>
          </div>
          <div className="card-body">
            {selected ? (
              <CheckpointPanel
                key={selected}
                track={data}
                checkpointId={selected}
                skillName={skillName}
                jobsUnfinished={hasUnfinishedJobs(jobs.data)}
              />
            ) : (
              <EmptyState title="Nothing selected" />
            )}
          </div>
        </section>
      </div>
      {data.skill_adapters && (
        <section className="card" aria-labelledby="adapters-heading">
          <div className="card-header">
            <h2 id="adapters-heading">Skill adapters</h2>
            <span className="small muted">one LoRA adapter per skill over the base: roll one skill back without touching the others</span>
          </div>
          <div className="card-body">
            <AdaptersPanel trackId={trackId} />
          </div>
        </section>
      )}
      <section className="card" aria-labelledby="jobs-heading">
        <div className="card-header">
          <h2 id="jobs-heading">Jobs</h2>
          {reorder.isError && <span className="small bad-text">Reorder refused: {reorder.error.message}</span>}
          {cancel.isError && <span className="small bad-text">Cancel refused: {cancel.error.message}</span>}
        </div>
        <QueryView query={jobs} loading={<SkeletonRows rows={2} />}>
          {(list) => (
            <JobQueue
              jobs={list}
              skillName={skillName}
              onReorder={(ids) => reorder.mutate(ids)}
              onCancel={(job) => cancel.mutate(job.id)}
              cancelling={cancel.isPending ? (cancel.variables ?? null) : null}
            />
          )}
        </QueryView>
      </section>
      {budgeting && <RetentionDialog trackId={trackId} budget={data.retention_budget} onClose={() => setBudgeting(false)} />}
      {queueing && (
        <Modal wide title="Queue a skill" onClose={() => (setQueueing(false), submit.reset())}>
          <QueueJobForm
            pending={submit.isPending}
            error={submit.error}
            onCancel={() => setQueueing(false)}
            onSubmit={(body) => submit.mutate(body, { onSuccess: () => setQueueing(false) })}
          />
        </Modal>
      )}
    </div>
  );
}
