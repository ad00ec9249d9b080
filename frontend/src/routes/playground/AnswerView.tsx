import { useEffect, useState } from "react";
import { Link } from "react-router";
import { Spinner, errorMessage } from "../../components/states";
import { generationResult, useGenerationJob, type GenerationResult } from "../../queries/playground";
import type { Answer } from "./conversation";

/** Seconds since `startedAt`, re-rendered every `tickMs` while mounted. */
function useElapsed(startedAt: number, tickMs = 100): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), tickMs);
    return () => clearInterval(timer);
  }, [tickMs]);
  return Math.max(0, (now - startedAt) / 1000);
}

function Waiting({ startedAt, label }: { startedAt: number; label: string }) {
  const elapsed = useElapsed(startedAt);
  return (
    <div className="answer answer-pending" role="status" aria-live="polite">
      <Spinner />
      <span>{label}</span>
      <span className="mono muted" data-testid="elapsed">
        {elapsed.toFixed(1)} s
      </span>
    </div>
  );
}

/**
 * Polls a generation job until it ends, showing the elapsed time, then reports the answer (or the
 * reason it failed) once: the conversation, not this component, keeps it.
 */
export function PendingAnswer({
  jobId,
  startedAt,
  onAnswered,
  onFailed,
}: {
  jobId: number;
  startedAt: number;
  onAnswered: (result: GenerationResult) => void;
  onFailed: (message: string) => void;
}) {
  const job = useGenerationJob(jobId);
  const data = job.data;
  useEffect(() => {
    if (job.isError) onFailed(errorMessage(job.error));
    else if (data?.state === "succeeded") onAnswered(generationResult(data.summary));
    else if (data?.state === "failed") onFailed(data.error ?? "The generation job failed.");
    else if (data?.state === "cancelled") onFailed("The generation job was cancelled.");
    // The callbacks change every render; the job's state is what decides.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [data?.state, job.isError]);
  const label = data?.state === "running" ? "Generating…" : "Queued for the worker…";
  return <Waiting startedAt={startedAt} label={label} />;
}

export function AnswerView({
  answer,
  onAnswered,
  onFailed,
  onRetry,
}: {
  answer: Answer;
  onAnswered: (jobId: number, result: GenerationResult) => void;
  onFailed: (jobId: number | null, message: string) => void;
  onRetry: () => void;
}) {
  switch (answer.status) {
    case "sending":
      return <Waiting startedAt={answer.startedAt} label="Sending…" />;
    case "pending":
      return (
        <PendingAnswer
          jobId={answer.jobId}
          startedAt={answer.startedAt}
          onAnswered={(result) => onAnswered(answer.jobId, result)}
          onFailed={(message) => onFailed(answer.jobId, message)}
        />
      );
    case "error":
      return (
        <div className="answer answer-error" role="alert">
          <p>{answer.message}</p>
          <div className="row">
            <button type="button" className="btn small" onClick={onRetry}>
              Retry
            </button>
            {answer.jobId !== null && (
              <Link className="small" to={`/jobs/${answer.jobId}`}>
                job #{answer.jobId}
              </Link>
            )}
          </div>
        </div>
      );
    case "done":
      return (
        <div className="answer">
          <p className="answer-text">{answer.text || <span className="muted">(empty answer)</span>}</p>
          <p className="answer-meta small muted mono">
            {answer.completionTokens ?? "?"} tokens · {answer.seconds !== null ? answer.seconds.toFixed(2) : "?"} s
            {answer.completionTokens !== null && answer.seconds ? ` · ${(answer.completionTokens / answer.seconds).toFixed(1)} tok/s` : ""}
          </p>
        </div>
      );
  }
}
