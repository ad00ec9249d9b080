import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client/api";
import { useProjectFilter } from "./auth";

export type Track = Schemas["TrackRead"];
export type TrackDetail = Schemas["TrackDetail"];
export type TrackCreate = Schemas["TrackCreate"];
export type CheckpointNode = Schemas["CheckpointNode"];
export type Checkpoint = Schemas["CheckpointRead"];
export type Job = Schemas["JobRead"];
export type JobCreate = Schemas["JobCreate"];

export const trackKeys = {
  all: ["tracks"] as const,
  one: (trackId: number) => ["tracks", trackId] as const,
  jobs: (trackId: number) => ["tracks", trackId, "jobs"] as const,
  checkpoint: (checkpointId: number) => ["checkpoints", checkpointId] as const,
};

/** While something is queued or running, poll: the page reflects the worker without a reload. */
const ACTIVE_POLL_MS = 2_000;

/** Tracks of the project chosen in the sidebar (all visible ones when none is chosen). */
export function useTracks() {
  const [projectId] = useProjectFilter();
  return useQuery({
    queryKey: [...trackKeys.all, { projectId }],
    queryFn: () => unwrap(api.GET("/api/tracks", { params: { query: projectId ? { project_id: projectId } : {} } })),
  });
}

export function useTrack(trackId: number) {
  return useQuery({
    queryKey: trackKeys.one(trackId),
    queryFn: () => unwrap(api.GET("/api/tracks/{track_id}", { params: { path: { track_id: trackId } } })),
    enabled: trackId > 0,
    refetchInterval: (query) => {
      const track = query.state.data;
      return track && (track.running_job_id !== null || track.queued_job_ids.length > 0) ? ACTIVE_POLL_MS : false;
    },
  });
}

/** True while a job of the track, training or evaluation, is queued or running. */
export function hasUnfinishedJobs(jobs: readonly Job[] | undefined): boolean {
  return (jobs ?? []).some((job) => job.state === "queued" || job.state === "running");
}

export function useTrackJobs(trackId: number) {
  return useQuery({
    queryKey: trackKeys.jobs(trackId),
    queryFn: () => unwrap(api.GET("/api/tracks/{track_id}/jobs", { params: { path: { track_id: trackId } } })),
    refetchInterval: (query) => (hasUnfinishedJobs(query.state.data) ? ACTIVE_POLL_MS : false),
  });
}

export function useCheckpoint(checkpointId: number | null) {
  return useQuery({
    queryKey: trackKeys.checkpoint(checkpointId ?? 0),
    queryFn: () =>
      unwrap(api.GET("/api/checkpoints/{checkpoint_id}", { params: { path: { checkpoint_id: checkpointId! } } })),
    enabled: checkpointId !== null,
  });
}

export function useCreateTrack() {
  const queryClient = useQueryClient();
  const [projectId] = useProjectFilter();
  return useMutation({
    mutationFn: (body: TrackCreate) =>
      unwrap(api.POST("/api/tracks", { body: projectId ? { ...body, project_id: projectId } : body })),
    onSuccess: (track) => {
      queryClient.setQueryData(trackKeys.one(track.id), track);
      void queryClient.invalidateQueries({ queryKey: trackKeys.all });
    },
  });
}

function useInvalidateTrack(trackId: number) {
  const queryClient = useQueryClient();
  return () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trackKeys.one(trackId), exact: true }),
      queryClient.invalidateQueries({ queryKey: trackKeys.jobs(trackId) }),
      queryClient.invalidateQueries({ queryKey: ["tracks", trackId, "regression"] }),
    ]);
}

export function useSubmitJob(trackId: number) {
  const invalidate = useInvalidateTrack(trackId);
  return useMutation({
    mutationFn: (body: JobCreate) =>
      unwrap(api.POST("/api/tracks/{track_id}/jobs", { params: { path: { track_id: trackId } }, body })),
    onSuccess: () => invalidate(),
  });
}

export function useReorderQueue(trackId: number) {
  const queryClient = useQueryClient();
  const invalidate = useInvalidateTrack(trackId);
  return useMutation({
    mutationFn: (jobIds: number[]) =>
      unwrap(
        api.POST("/api/tracks/{track_id}/queue", { params: { path: { track_id: trackId } }, body: { job_ids: jobIds } }),
      ),
    // Show the new order at once; the server's answer (or the refetch after an error) settles it.
    onMutate: (jobIds) => {
      const key = trackKeys.jobs(trackId);
      const previous = queryClient.getQueryData<Job[]>(key);
      if (previous) {
        const byId = new Map(previous.map((job) => [job.id, job]));
        const reordered = jobIds.map((id) => byId.get(id)).filter((job): job is Job => job !== undefined);
        let next = 0;
        queryClient.setQueryData<Job[]>(
          key,
          previous.map((job) => (job.state === "queued" && jobIds.includes(job.id) ? reordered[next++]! : job)),
        );
      }
      return { previous };
    },
    onError: (_error, _jobIds, context) => {
      if (context?.previous) queryClient.setQueryData(trackKeys.jobs(trackId), context.previous);
    },
    onSettled: () => invalidate(),
  });
}

export function useRollback(trackId: number) {
  const invalidate = useInvalidateTrack(trackId);
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: { checkpoint_id: number; expected_head_id: number | null }) =>
      unwrap(api.POST("/api/tracks/{track_id}/rollback", { params: { path: { track_id: trackId } }, body })),
    onSuccess: (track) => {
      queryClient.setQueryData(trackKeys.one(trackId), track);
      void queryClient.invalidateQueries({ queryKey: ["checkpoints"] });
      return invalidate();
    },
  });
}

export function useCancelJob(trackId: number | null) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (jobId: number) => unwrap(api.POST("/api/jobs/{job_id}/cancel", { params: { path: { job_id: jobId } } })),
    onSuccess: (job) => {
      void queryClient.invalidateQueries({ queryKey: ["jobs", job.id] });
      if (trackId !== null) {
        void queryClient.invalidateQueries({ queryKey: trackKeys.one(trackId), exact: true });
        void queryClient.invalidateQueries({ queryKey: trackKeys.jobs(trackId) });
      }
    },
  });
}

export const BASE_MODELS = [
  { value: "tiny", hint: "randomly initialised, for tests: seconds per step" },
  { value: "smollm2-135m", hint: "SmolLM2-135M-Instruct, ships with Apprentice" },
  { value: "qwen2.5-0.5b", hint: "Qwen2.5-Coder-0.5B-Instruct (make models-qwen)" },
];

export type RetentionBudget = Schemas["RetentionBudget"];

export function useSetRetentionBudget(trackId: number) {
  const invalidate = useInvalidateTrack(trackId);
  return useMutation({
    mutationFn: (budget: RetentionBudget) =>
      unwrap(api.PUT("/api/tracks/{track_id}/retention-budget", { params: { path: { track_id: trackId } }, body: budget })),
    onSuccess: () => invalidate(),
  });
}

export function usePromote(trackId: number) {
  const invalidate = useInvalidateTrack(trackId);
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ checkpointId, force }: { checkpointId: number; force: boolean }) =>
      unwrap(
        api.POST("/api/checkpoints/{checkpoint_id}/promote", { params: { path: { checkpoint_id: checkpointId } }, body: { force } }),
      ),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["checkpoints"] });
      return invalidate();
    },
  });
}
