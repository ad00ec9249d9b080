import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { jobKeys, TERMINAL_STATES, type JobDetail, type StepMetrics } from "../queries/jobs";

export type StreamStatus = "idle" | "connecting" | "live" | "reconnecting" | "ended";

interface JobEvent {
  id: number;
  kind: string;
  attempt: number;
  step: number | null;
  data: Record<string, unknown>;
}

/** Adds one step to the list; a step redone by a later attempt (after a resume) replaces the old one. */
export function mergeStep(steps: StepMetrics[], incoming: StepMetrics): StepMetrics[] {
  const index = steps.findIndex((step) => step.step === incoming.step);
  if (index === -1) return [...steps, incoming].sort((a, b) => a.step - b.step);
  if (steps[index]!.attempt > incoming.attempt) return steps;
  const next = steps.slice();
  next[index] = incoming;
  return next;
}

/** The latest attempt's metrics per step, in step order (what the charts draw). */
export function latestSteps(steps: StepMetrics[]): StepMetrics[] {
  return steps.reduce<StepMetrics[]>((merged, step) => mergeStep(merged, step), []);
}

/**
 * Follows a job's Server-Sent Events and folds them into the cached job: one `step` event per
 * training step, `state` changes, then `end`. EventSource reconnects by itself and resends
 * Last-Event-ID, so the server resumes where the stream broke.
 */
export function useJobStream(jobId: number, enabled: boolean): StreamStatus {
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<StreamStatus>("idle");

  useEffect(() => {
    if (!enabled || typeof EventSource === "undefined") return;
    const source = new EventSource(`/api/jobs/${jobId}/events`);
    const key = jobKeys.one(jobId);
    setStatus("connecting");
    const update = (change: (job: JobDetail) => JobDetail) =>
      queryClient.setQueryData<JobDetail>(key, (job) => (job ? change(job) : job));
    const parse = (event: MessageEvent<string>): JobEvent | null => {
      try {
        return JSON.parse(event.data) as JobEvent;
      } catch {
        return null;
      }
    };

    source.onopen = () => setStatus("live");
    source.onerror = () => setStatus(source.readyState === EventSource.CLOSED ? "ended" : "reconnecting");
    source.addEventListener("step", (message) => {
      const event = parse(message as MessageEvent<string>);
      if (!event || event.step === null) return;
      const step: StepMetrics = { step: event.step, attempt: event.attempt, metrics: event.data };
      update((job) => ({
        ...job,
        steps: mergeStep(job.steps, step),
        last_step: Math.max(job.last_step, event.step ?? 0),
        progress: job.total_steps ? Math.max(job.last_step, event.step ?? 0) / job.total_steps : job.progress,
      }));
    });
    source.addEventListener("state", (message) => {
      const event = parse(message as MessageEvent<string>);
      const state = event?.data.state;
      if (typeof state === "string") update((job) => ({ ...job, state: state as JobDetail["state"] }));
      // The row holds more than the event (error, checkpoint, totals): read it again. A final
      // state also refreshes the job's rollouts: turning the job inactive closes this stream
      // before its `end` event can arrive, and the last traces land just before the end.
      const final = typeof state === "string" && TERMINAL_STATES.includes(state as JobDetail["state"]);
      void queryClient.invalidateQueries({ queryKey: key, exact: !final });
    });
    source.addEventListener("warning", () => void queryClient.invalidateQueries({ queryKey: key, exact: true }));
    source.addEventListener("end", () => {
      source.close();
      setStatus("ended");
      void queryClient.invalidateQueries({ queryKey: key });
    });
    return () => source.close();
  }, [jobId, enabled, queryClient]);

  return status;
}
