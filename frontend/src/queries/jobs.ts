import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client/api";
import { useLiveQuery } from "./live";

export type JobDetail = Schemas["JobDetail"];
export type StepMetrics = Schemas["StepMetrics"];
export type RolloutTrace = Schemas["RolloutTraceRead"];
export type JobState = JobDetail["state"];

export const jobKeys = {
  one: (jobId: number) => ["jobs", jobId] as const,
  rollouts: (jobId: number, offset: number, limit: number) => ["jobs", jobId, "rollouts", offset, limit] as const,
  list: (filter: { track_id?: number; state?: JobState }) => ["jobs", "list", filter] as const,
};

export const TERMINAL_STATES: JobState[] = ["succeeded", "failed", "cancelled"];

export function isActive(state: JobState): boolean {
  return !TERMINAL_STATES.includes(state);
}

export function useJob(jobId: number) {
  return useQuery({
    queryKey: jobKeys.one(jobId),
    queryFn: () => unwrap(api.GET("/api/jobs/{job_id}", { params: { path: { job_id: jobId } } })),
  });
}

export function useJobs(filter: { track_id?: number; state?: JobState } = {}) {
  return useQuery({
    queryKey: jobKeys.list(filter),
    queryFn: () => unwrap(api.GET("/api/jobs", { params: { query: filter } })),
  });
}

export function useRollouts(jobId: number, offset: number, limit: number, { live }: { live: boolean }) {
  return useLiveQuery(
    {
      queryKey: jobKeys.rollouts(jobId, offset, limit),
      queryFn: () =>
        unwrap(api.GET("/api/jobs/{job_id}/rollouts", { params: { path: { job_id: jobId }, query: { offset, limit } } })),
      placeholderData: keepPreviousData,
    },
    live,
  );
}
