import { Link } from "react-router";
import { JobStateBadge } from "../../components/JobStateBadge";
import { PageHeader } from "../../components/PageHeader";
import { ProgressBar } from "../../components/Progress";
import { Stat } from "../../components/Stat";
import { ErrorState, Loading } from "../../components/states";
import { latestSteps, useJobStream, type StreamStatus } from "../../lib/jobStream";
import { formatDate, formatMetric } from "../../lib/format";
import { useNumericParam } from "../../lib/params";
import { isActive, useJob, type JobDetail } from "../../queries/jobs";
import { useCancelJob, useCheckpoint, useTrack } from "../../queries/tracks";
import { useSkills } from "../../queries/skills";
import { defaultSkipTokens } from "../skills/SkillForm";
import { useSkillNames } from "../tracks/TrackDetailPage";
import { RolloutsSection } from "./RolloutsSection";
import { RunCharts, TimingSplit } from "./RunCharts";

export function JobPage() {
  const jobId = useNumericParam("jobId");
  if (jobId === null) return <ErrorState title="Not found" error={new Error("This is not a job id.")} />;
  return <Run jobId={jobId} />;
}

const STREAM_LABELS: Record<StreamStatus, string> = {
  idle: "",
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  ended: "stream ended",
};

/** Seconds left, from the mean step time so far. */
function eta(job: JobDetail): string | null {
  const times = job.steps.map((step) => step.metrics.step_s).filter((value): value is number => typeof value === "number");
  if (!job.total_steps || times.length === 0 || job.state !== "running") return null;
  const seconds = ((job.total_steps - job.last_step) * times.reduce((a, b) => a + b, 0)) / times.length;
  if (seconds < 90) return `~${Math.round(seconds)} s left`;
  return `~${Math.round(seconds / 60)} min left`;
}

function Run({ jobId }: { jobId: number }) {
  const job = useJob(jobId);
  const active = job.data ? isActive(job.data.state) : false;
  const stream = useJobStream(jobId, active);
  const cancel = useCancelJob(job.data?.track_id ?? null);
  const skillName = useSkillNames();
  const result = useCheckpoint(job.data?.result_checkpoint_id ?? null);
  const track = useTrack(job.data?.track_id ?? 0);
  const skills = useSkills();

  if (job.isPending) return <Loading label="Loading run…" />;
  if (job.isError)
    return (
      <div className="page">
        <PageHeader title={`Job #${jobId}`} crumbs={[{ label: "Tracks", to: "/tracks" }]} />
        <ErrorState error={job.error} onRetry={() => void job.refetch()} />
      </div>
    );
  const data = job.data;
  const steps = latestSteps(data.steps);
  const last = steps[steps.length - 1]?.metrics ?? {};
  const number = (key: string) => (typeof last[key] === "number" ? (last[key] as number) : null);
  const fullConfig = result.data?.config ?? null;
  const configValue = (key: string): unknown => data.config[key] ?? fullConfig?.[key];
  // Until the result checkpoint records what ran, an unset value is the engine's default for the skill's template.
  const skillTemplate = skills.data?.find((skill) => skill.id === data.skill_id)?.teacher_template;
  const templateSkip = defaultSkipTokens(skillTemplate);
  const skip = Number(configValue("skip_first_tokens") ?? templateSkip);
  const traceEvery = configValue("trace_every");
  const crumbs = [
    { label: "Tracks", to: "/tracks" },
    ...(data.track_id ? [{ label: track.data?.name ?? `Track ${data.track_id}`, to: `/tracks/${data.track_id}` }] : []),
  ];
  const remaining = eta(data);

  return (
    <div className="page">
      <PageHeader
        title={
          <span className="row" style={{ gap: 10 }}>
            Job #{data.id} <JobStateBadge state={data.state} cancelRequested={data.cancel_requested} />
            {active && <span className={`live-dot ${stream}`}>{STREAM_LABELS[stream]}</span>}
          </span>
        }
        crumbs={crumbs}
        actions={
          active && (
            <button type="button" className="btn danger" disabled={data.cancel_requested || cancel.isPending} onClick={() => cancel.mutate(data.id)}>
              {data.cancel_requested ? "Cancelling…" : "Cancel job"}
            </button>
          )
        }
      >
        {data.kind === "train" ? (
          <>
            Trains <b>{skillName(data.skill_id)}</b> with <span className={`badge method-${data.method}`}>{data.method}</span> from checkpoint{" "}
            {data.start_checkpoint_id ? <Link to={`/tracks/${data.track_id}?checkpoint=${data.start_checkpoint_id}`}>#{data.start_checkpoint_id}</Link> : "head (when it starts)"}
            {data.result_checkpoint_id && (
              <>
                {" "}
                → <Link to={`/tracks/${data.track_id}?checkpoint=${data.result_checkpoint_id}`}>#{data.result_checkpoint_id}</Link>
              </>
            )}
            {" · "}queued {formatDate(data.created_at)} · attempt {data.attempt}
          </>
        ) : (
          <>
            {data.kind} job · queued {formatDate(data.created_at)}
          </>
        )}
      </PageHeader>

      {data.error && (
        <div className="notice bad" role="alert">
          <div className="stack" style={{ gap: 4 }}>
            <strong>The job failed</strong>
            <pre className="block" style={{ background: "transparent", border: 0, padding: 0 }}>
              {data.error}
            </pre>
          </div>
        </div>
      )}
      {cancel.isError && <ErrorState error={cancel.error} title="Cancel refused" />}
      {active && (
        <ProgressBar
          fraction={data.total_steps ? data.last_step / data.total_steps : null}
          label={
            data.state === "queued"
              ? "Waiting for earlier jobs of this track and a free worker…"
              : data.total_steps
                ? `Step ${data.last_step} of ${data.total_steps}${remaining ? ` · ${remaining}` : ""}`
                : "Loading the model and data…"
          }
        />
      )}
      {data.warnings.length > 0 && (
        <div className="notice warn" role="status">
          <ul className="change-list small">
            {data.warnings.map((warning, index) => (
              <li key={index}>
                {typeof warning.step === "number" && <span className="mono">step {warning.step}: </span>}
                {String(warning.message ?? JSON.stringify(warning))}
              </li>
            ))}
          </ul>
        </div>
      )}

      <div className="stats">
        <Stat label="Step" value={`${data.last_step}${data.total_steps ? ` / ${data.total_steps}` : ""}`} />
        <Stat label="Loss" value={formatMetric(number("loss"), 4)} />
        {data.method === "sdft" ? <Stat label="Divergence" value={formatMetric(number("divergence"), 4)} /> : <Stat label="NLL" value={formatMetric(number("nll"), 4)} />}
        <Stat label="Student log-prob" value={formatMetric(number("student_logprob"), 4)} />
        <Stat label="Tokens / s" value={formatMetric(number("tokens_per_s"), 3)} />
      </div>

      <RunCharts steps={steps} method={data.method} />

      <div className="grid-2">
        <section className="card">
          <div className="card-header">
            <h2>Time per step</h2>
          </div>
          <div className="card-body">
            <TimingSplit steps={steps} />
          </div>
        </section>
        <section className="card">
          <div className="card-header">
            <h2>Config</h2>
            <span className="small muted">{fullConfig ? "as trained" : "set at submission; the rest are the engine's defaults"}</span>
          </div>
          <div className="card-body">
            <ConfigTable config={fullConfig ?? data.config} overrides={data.config} />
          </div>
        </section>
      </div>

      <section className="card" aria-labelledby="rollouts-heading">
        <div className="card-header">
          <h2 id="rollouts-heading">Rollouts</h2>
          <span className="small muted">the student's own samples, scored token by token by the teacher</span>
        </div>
        <div className="card-body">
          <RolloutsSection jobId={data.id} live={active} skipFirstTokens={Number.isFinite(skip) ? skip : templateSkip} traceEvery={typeof traceEvery === "number" ? traceEvery : null} />
        </div>
      </section>
    </div>
  );
}

function ConfigTable({ config, overrides }: { config: Record<string, unknown>; overrides: Record<string, unknown> }) {
  const entries = Object.entries(config).filter(([key]) => key !== "teacher_template" && key !== "extra");
  if (entries.length === 0) return <p className="small muted">All defaults.</p>;
  return (
    <div className="config-grid">
      {entries.map(([key, value]) => (
        <div key={key} className={key in overrides ? "config-item set" : "config-item"}>
          <span className="muted">{key}</span>
          <span className="mono">{value === null ? "—" : typeof value === "number" ? formatMetric(value, 6) : String(value)}</span>
        </div>
      ))}
    </div>
  );
}
