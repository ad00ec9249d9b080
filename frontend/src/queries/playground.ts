import { useMutation, useQuery } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client/api";
import { isActive, jobKeys } from "./jobs";

export type GenerateRequest = Schemas["GenerateRequest"];

/** A generation job is short: poll it twice a second so the answer shows as soon as it exists. */
export const GENERATION_POLL_MS = 500;

/** What a pane asks: one checkpoint, or a track of one adapter per skill's base with these adapters on. */
export type GenerationTarget = { checkpointId: number } | { trackId: number; adapterIds: number[] };

/** Queues a chat turn on a target; the answer is the job's `summary.output` once it succeeds. */
export function useGenerate() {
  return useMutation({
    mutationFn: ({ target, body }: { target: GenerationTarget; body: GenerateRequest }) =>
      "trackId" in target
        ? unwrap(
            api.POST("/api/tracks/{track_id}/generate", {
              params: { path: { track_id: target.trackId } },
              body: { ...body, adapters: target.adapterIds },
            }),
          )
        : unwrap(api.POST("/api/checkpoints/{checkpoint_id}/generate", { params: { path: { checkpoint_id: target.checkpointId } }, body })),
  });
}

/** The generation job, polled until it is terminal (succeeded, failed or cancelled). */
export function useGenerationJob(jobId: number) {
  return useQuery({
    queryKey: jobKeys.one(jobId),
    queryFn: () => unwrap(api.GET("/api/jobs/{job_id}", { params: { path: { job_id: jobId } } })),
    refetchInterval: (query) => {
      const job = query.state.data;
      if (query.state.error) return false;
      return job && !isActive(job.state) ? false : GENERATION_POLL_MS;
    },
  });
}

export interface GenerationResult {
  text: string;
  completionTokens: number | null;
  seconds: number | null;
}

/** Reads the answer out of a succeeded job's free-form summary, tolerating missing numbers. */
export function generationResult(summary: Record<string, unknown>): GenerationResult {
  const number = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? value : null);
  return {
    text: typeof summary.output === "string" ? summary.output : "",
    completionTokens: number(summary.completion_tokens),
    seconds: number(summary.seconds),
  };
}
