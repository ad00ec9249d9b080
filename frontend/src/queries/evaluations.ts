import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client/api";
import { useLiveQuery } from "./live";

export type RegressionMatrix = Schemas["RegressionMatrix"];
export type MatrixCell = Schemas["MatrixCell"];
export type CheckpointRow = Schemas["CheckpointRow"];
export type Evaluation = Schemas["EvaluationRead"];
export type EvaluationDetail = Schemas["EvaluationDetail"];

export const evaluationKeys = {
  regression: (trackId: number) => ["tracks", trackId, "regression"] as const,
  one: (evaluationId: number) => ["evaluations", evaluationId] as const,
  forCheckpoint: (checkpointId: number) => ["checkpoints", checkpointId, "evaluations"] as const,
};

export function useRegression(trackId: number, { live }: { live: boolean } = { live: false }) {
  return useLiveQuery(
    {
      queryKey: evaluationKeys.regression(trackId),
      queryFn: () =>
        unwrap(api.GET("/api/tracks/{track_id}/regression", { params: { path: { track_id: trackId }, query: {} } })),
    },
    live,
  );
}

export function useEvaluation(evaluationId: number | null) {
  return useQuery({
    queryKey: evaluationKeys.one(evaluationId ?? 0),
    queryFn: () =>
      unwrap(api.GET("/api/evaluations/{evaluation_id}", { params: { path: { evaluation_id: evaluationId! } } })),
    enabled: evaluationId !== null,
    staleTime: Infinity,
  });
}

export function useCheckpointEvaluations(checkpointId: number | null, { live }: { live: boolean } = { live: false }) {
  return useLiveQuery(
    {
      queryKey: evaluationKeys.forCheckpoint(checkpointId ?? 0),
      queryFn: () =>
        unwrap(
          api.GET("/api/checkpoints/{checkpoint_id}/evaluations", { params: { path: { checkpoint_id: checkpointId! } } }),
        ),
      enabled: checkpointId !== null,
    },
    live,
  );
}

export function useQueueEvaluation(trackId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (checkpointId: number) =>
      unwrap(
        api.POST("/api/checkpoints/{checkpoint_id}/evaluate", { params: { path: { checkpoint_id: checkpointId } }, body: {} }),
      ),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["tracks", trackId] });
    },
  });
}
