import { useMutation, useQuery } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client/api";
import { isActive, jobKeys } from "./jobs";

export type GenerateRequest = Schemas["GenerateRequest"];

/** A generation job is short: poll it twice a second so the answer shows as soon as it exists. */
export const GENERATION_POLL_MS = 500;

/** Queues a chat turn on a checkpoint; the answer is the job's `summary.output` once it succeeds. */
export function useGenerate() {
  return useMutation({
    mutationFn: ({ checkpointId, body }: { checkpointId: number; body: GenerateRequest }) =>
      unwrap(api.POST("/api/checkpoints/{checkpoint_id}/generate", { params: { path: { checkpoint_id: checkpointId } }, body })),
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
