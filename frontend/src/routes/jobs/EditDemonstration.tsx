import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { Field } from "../../components/Field";
import { Modal } from "../../components/Modal";
import { ErrorState, Spinner } from "../../components/states";
import { useJob, type JobDetail, type RolloutTrace } from "../../queries/jobs";
import { useCreateRevision, useFindRow, type RevisionRead } from "../../queries/revisions";
import { useSubmitJob, type Job } from "../../queries/tracks";
import {
  draftProblem,
  findSourceRow,
  followUpJob,
  followUpSteps,
  revisionRequest,
  typedPrompt,
  type DemonstrationDraft,
} from "./demonstration";
import type { RolloutTraceBody } from "./TokenInspector";

/**
 * "Edit as demonstration" for the rollout in the token inspector: shown for a training run's
 * rollouts of its own skill's prompts (not general prompts).
 */
export function EditDemonstrationButton({ jobId, rollout }: { jobId: number; rollout: RolloutTrace }) {
  const job = useJob(jobId);
  const [open, setOpen] = useState(false);
  const trace = rollout.trace as RolloutTraceBody;
  const data = job.data;
  if (!data || data.kind !== "train" || data.dataset_version_id === null || data.skill_id === null || trace.general) return null;
  return (
    <>
      <button type="button" className="btn small" onClick={() => setOpen(true)} title="Turn this rollout into a better demonstration of the skill">
        Edit as demonstration
      </button>
      {open && <EditDemonstrationDialog job={data} rollout={rollout} onClose={() => setOpen(false)} />}
    </>
  );
}

export function EditDemonstrationDialog({ job, rollout, onClose }: { job: JobDetail; rollout: RolloutTrace; onClose: () => void }) {
  const trace = rollout.trace as RolloutTraceBody;
  const versionId = job.dataset_version_id!;
  const source = useFindRow(versionId, `${trace.demonstration ?? ""}\u0000${trace.prompt ?? ""}`, (rows) => findSourceRow(rows, trace));
  const revise = useCreateRevision(job.skill_id);
  const [saved, setSaved] = useState<RevisionRead | null>(null);

  return (
    <Modal title={saved ? "Demonstration saved" : "Edit as demonstration"} onClose={onClose} wide>
      {saved ? (
        <FollowUp job={job} revision={saved} onClose={onClose} />
      ) : source.isPending ? (
        <div className="row small muted">
          <Spinner /> Finding the rollout's prompt in the dataset…
        </div>
      ) : source.isError ? (
        <ErrorState error={source.error} onRetry={() => void source.refetch()} />
      ) : (
        <DraftForm
          key={source.data?.index ?? -1}
          trace={trace}
          row={source.data ?? null}
          pending={revise.isPending}
          error={revise.error}
          onCancel={onClose}
          onSave={(draft) =>
            revise.mutate(
              { versionId, body: revisionRequest(draft, { jobId: job.id, step: rollout.step, sampleIndex: rollout.sample_index }) },
              { onSuccess: setSaved },
            )
          }
        />
      )}
    </Modal>
  );
}

function DraftForm({
  trace,
  row,
  pending,
  error,
  onSave,
  onCancel,
}: {
  trace: RolloutTraceBody;
  row: ReturnType<typeof findSourceRow>;
  pending: boolean;
  error: unknown;
  onSave: (draft: DemonstrationDraft) => void;
  onCancel: () => void;
}) {
  const completion = trace.completion ?? "";
  const [typed, setTyped] = useState("");
  const [response, setResponse] = useState(completion);
  const [reference, setReference] = useState(row?.reference ?? "");
  const [replace, setReplace] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  function submit(event: FormEvent) {
    event.preventDefault();
    const draft: DemonstrationDraft = {
      prompt: row ? row.prompt : typedPrompt(typed),
      response,
      reference,
      context: row?.context ?? null,
      replaceIndex: row && replace ? row.index : null,
      split: row?.split ?? "train",
    };
    const found = draftProblem(draft, completion);
    setProblem(found);
    if (!found) onSave(draft);
  }

  return (
    <form className="stack" onSubmit={submit} aria-label="New demonstration">
      <p className="small muted">
        Rewrite the student's answer into the one it should have given. Saving makes the skill's next dataset version: this run's rows plus
        the new demonstration. The version this run trained on stays as it is.
      </p>
      {row ? (
        <section className="stack" style={{ gap: 6 }}>
          <h3>
            Prompt <span className="small muted">row {row.index + 1} of the run's dataset</span>
          </h3>
          <pre className="block prompt" data-testid="demonstration-prompt">
            {row.prompt.map((message) => `${message.role}: ${message.content}`).join("\n\n")}
          </pre>
          <details className="small">
            <summary>The row's current demonstration</summary>
            <pre className="block">{row.demonstration}</pre>
          </details>
        </section>
      ) : (
        <Field
          label="Prompt"
          hint="This rollout's prompt is not a row of the run's dataset (a prompt replayed from an earlier skill?). Type the user's prompt; the student saw it as below."
        >
          <textarea rows={3} value={typed} onChange={(event) => setTyped(event.target.value)} placeholder={trace.prompt} />
        </Field>
      )}
      <Field label="Demonstration" hint="starts as the student's rollout; edit it into a good answer">
        <textarea className="mono" rows={8} value={response} onChange={(event) => setResponse(event.target.value)} />
      </Field>
      <Field label="Reference answer" optional hint="what evaluation compares the answer to">
        <input type="text" value={reference} onChange={(event) => setReference(event.target.value)} />
      </Field>
      {row && (
        <label className="row small">
          <input type="checkbox" checked={replace} onChange={(event) => setReplace(event.target.checked)} />
          Replace row {row.index + 1} instead of adding beside it
        </label>
      )}
      {problem && (
        <p className="field-error" role="alert">
          {problem}
        </p>
      )}
      {error !== null && <ErrorState error={error} title="Not saved" />}
      <div className="form-actions">
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="btn primary" disabled={pending}>
          {pending ? "Saving…" : "Save as new version"}
        </button>
      </div>
    </form>
  );
}

/** After saving: the new version, and a short job on the same track trained on it. */
function FollowUp({ job, revision, onClose }: { job: JobDetail; revision: RevisionRead; onClose: () => void }) {
  const submit = useSubmitJob(job.track_id ?? 0);
  const [steps, setSteps] = useState(String(followUpSteps(job)));
  const [queued, setQueued] = useState<Job | null>(null);
  const version = revision.version;
  const versionLink = `/skills/${version.skill_id}/versions/${version.id}`;

  function queue(event: FormEvent) {
    event.preventDefault();
    const count = Math.floor(Number(steps));
    if (!(count >= 1)) return;
    submit.mutate(followUpJob(job, version.id, count), { onSuccess: setQueued });
  }

  return (
    <form className="stack" onSubmit={queue} aria-label="Follow-up job">
      <p role="status">
        {revision.created ? (
          <>
            Saved as <Link to={versionLink}>version {version.version}</Link> ({version.n_train} train / {version.n_eval} eval rows);{" "}
            <Link to={`/skills/${version.skill_id}/diff/${revision.revised_from}/${version.id}`}>see the change</Link>.
          </>
        ) : (
          <>
            These rows already exist as <Link to={versionLink}>version {version.version}</Link>; nothing new was stored.
          </>
        )}
      </p>
      {queued ? (
        <p role="status">
          Queued <Link to={`/jobs/${queued.id}`}>job #{queued.id}</Link> on this track.
        </p>
      ) : (
        <>
          <p className="small muted">
            Train on it now: a short <span className={`badge method-${job.method}`}>{job.method}</span> job on this track with this run's settings,
            starting from the track's head when it runs.
          </p>
          <Field label="Steps" hint={`this run had ${job.total_steps || "its default"} steps`}>
            <input type="number" min={1} step={1} value={steps} onChange={(event) => setSteps(event.target.value)} />
          </Field>
          {submit.isError && <ErrorState error={submit.error} title="Not queued" />}
        </>
      )}
      <div className="form-actions">
        <button type="button" className="btn" onClick={onClose}>
          {queued ? "Close" : "Not now"}
        </button>
        {!queued && (
          <button type="submit" className="btn primary" disabled={submit.isPending || job.track_id === null}>
            {submit.isPending ? "Queueing…" : "Queue follow-up job"}
          </button>
        )}
      </div>
    </form>
  );
}
