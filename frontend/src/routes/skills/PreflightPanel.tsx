import { useState, type FormEvent } from "react";
import { Field } from "../../components/Field";
import { JobStateBadge } from "../../components/JobStateBadge";
import { ProgressBar } from "../../components/Progress";
import { Stat } from "../../components/Stat";
import { EmptyState, ErrorState, QueryView, SkeletonRows } from "../../components/states";
import { formatDate, formatMetric } from "../../lib/format";
import { usePreflight, useRequestPreflight, type DemonstrationCheck } from "../../queries/preflight";
import { BASE_MODELS, useTracks } from "../../queries/tracks";

const FLAG_LABELS: Record<string, string> = {
  weak_gap: "weak signal",
  negative_gap: "teacher disagrees",
  teacher_wrong: "teacher answer wrong",
  prompt_too_long: "prompt too long",
  context_overflow: "no room to answer",
};

/**
 * Before training: does the teacher (the model with the demonstration in context) find each
 * demonstration more likely than the student does? No gap, no signal for SDFT to distil.
 */
export function PreflightPanel({ versionId }: { versionId: number }) {
  const status = usePreflight(versionId);
  const request = useRequestPreflight(versionId);
  const tracks = useTracks();
  const [target, setTarget] = useState("model:smollm2-135m");

  function submit(event: FormEvent) {
    event.preventDefault();
    const [kind, value] = target.split(":", 2) as [string, string];
    request.mutate(kind === "track" ? { track_id: Number(value) } : { model: value });
  }

  const running = status.data?.job?.state === "queued" || status.data?.job?.state === "running";
  return (
    <div className="stack">
      <form className="row" onSubmit={submit} aria-label="Pre-flight check">
        <Field label="Check against">
          <select value={target} onChange={(event) => setTarget(event.target.value)} style={{ width: "auto" }}>
            <optgroup label="Base models">
              {BASE_MODELS.map((model) => (
                <option key={model.value} value={`model:${model.value}`}>
                  {model.value}
                </option>
              ))}
            </optgroup>
            {(tracks.data ?? []).length > 0 && (
              <optgroup label="A track's head checkpoint">
                {(tracks.data ?? []).map((track) => (
                  <option key={track.id} value={`track:${track.id}`}>
                    {track.name} (head #{track.head_checkpoint_id})
                  </option>
                ))}
              </optgroup>
            )}
          </select>
        </Field>
        <button type="submit" className="btn primary" style={{ alignSelf: "flex-end" }} disabled={request.isPending || running}>
          {running ? "Checking…" : "Run pre-flight check"}
        </button>
      </form>
      {request.isError && <ErrorState error={request.error} title="Check refused" />}
      <QueryView query={status} loading={<SkeletonRows rows={2} />}>
        {(data) => (
          <>
            {data.job && (data.job.state === "queued" || data.job.state === "running") && (
              <ProgressBar fraction={null} label={data.job.state === "queued" ? "Waiting for a worker…" : "Scoring the demonstrations…"} />
            )}
            {data.job?.state === "failed" && <ErrorState title="The check failed" error={new Error(data.job.error ?? "unknown error")} />}
            {data.report ? (
              <PreflightReport
                model={data.report.model}
                created={data.report.created_at}
                summary={data.report.summary}
                rows={data.report.demonstrations as unknown as DemonstrationCheck[]}
                jobState={data.job?.state}
              />
            ) : (
              !data.job && (
                <EmptyState title="Not checked yet">
                  The check scores every train demonstration with the chosen model, as student and as teacher, and tries the teacher's own answer.
                </EmptyState>
              )
            )}
          </>
        )}
      </QueryView>
    </div>
  );
}

export function PreflightReport({
  model,
  created,
  summary,
  rows,
  jobState,
}: {
  model: string;
  created: string;
  summary: Record<string, unknown>;
  rows: DemonstrationCheck[];
  jobState?: string | undefined;
}) {
  const number = (key: string) => (typeof summary[key] === "number" ? (summary[key] as number) : null);
  const withSignal = number("n_with_signal") ?? 0;
  const scored = number("n_scored") ?? 0;
  const tone = scored === 0 || withSignal === 0 ? "bad" : withSignal < scored / 2 ? "warn" : "ok";
  const accuracy = number("teacher_accuracy");
  return (
    <section className="stack" aria-label="Pre-flight report">
      <p className="small muted">
        {model} · {formatDate(created)} {jobState && jobState !== "succeeded" && <JobStateBadge state={jobState as "queued"} />}
      </p>
      <div className={`notice ${tone}`} data-testid="preflight-verdict">
        {String(summary.verdict ?? "")}
      </div>
      <div className="stats">
        <Stat label="Checked" value={String(number("n") ?? 0)} />
        <Stat label="With signal" value={`${withSignal} / ${scored}`} tone={tone === "ok" ? undefined : tone} />
        <Stat label="Mean gap (nats/token)" value={formatMetric(number("mean_gap"), 3)} />
        <Stat label="Teacher accuracy" value={accuracy === null ? "—" : `${Math.round(accuracy * 100)}%`} />
        <Stat label="Flagged" value={String(number("n_flagged") ?? 0)} tone={(number("n_flagged") ?? 0) > 0 ? "warn" : undefined} />
      </div>
      <div className="table-wrap">
        <table className="data" aria-label="Demonstrations ranked by teacher signal">
          <thead>
            <tr>
              <th className="num">#</th>
              <th className="num col-line">Line</th>
              <th>Prompt</th>
              <th className="num">Student</th>
              <th className="num">Teacher</th>
              <th className="num">Gap</th>
              <th>Teacher's answer</th>
              <th>Flags</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.index}>
                <td className="num mono muted">{row.rank}</td>
                <td className="num mono muted">{row.line ?? "—"}</td>
                <td className="cell-text">
                  <span className="clamp">{row.prompt}</span>
                </td>
                <td className="num mono">{formatMetric(row.student_logprob, 3)}</td>
                <td className="num mono">{formatMetric(row.teacher_logprob, 3)}</td>
                <td className={`num mono ${row.gap !== null && row.gap < 0 ? "bad-text" : ""}`}>{formatMetric(row.gap, 3)}</td>
                <td className="cell-text mono">
                  {row.teacher_correct !== null && (
                    <span className={row.teacher_correct ? "badge ok" : "badge bad"} title={row.teacher_reason ?? undefined}>
                      {row.teacher_correct ? "right" : "wrong"}
                    </span>
                  )}{" "}
                  <span className="clamp">{row.teacher_answer ?? ""}</span>
                </td>
                <td>
                  {row.flags.map((flag) => (
                    <span key={flag} className={flag === "prompt_too_long" || flag === "context_overflow" ? "badge bad" : "badge warn"}>
                      {FLAG_LABELS[flag] ?? flag}
                    </span>
                  ))}
                  {row.warnings.map((warning) => (
                    <div key={warning} className="small muted">
                      {warning}
                    </div>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
