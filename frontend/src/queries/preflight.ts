import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client/api";

export type PreflightStatus = Schemas["PreflightStatus"];
export type PreflightRequest = Schemas["PreflightRequest"];

/** One row of the report, as worker/sdft/preflight.py's DemonstrationCheck writes it. */
export interface DemonstrationCheck {
  index: number;
  line: number | null;
  prompt: string;
  student_prompt_tokens: number;
  teacher_prompt_tokens: number;
  demonstration_tokens: number;
  student_logprob: number | null;
  teacher_logprob: number | null;
  gap: number | null;
  teacher_answer: string | null;
  teacher_correct: boolean | null;
  teacher_reason: string | null;
  flags: string[];
  warnings: string[];
  rank: number;
}

const key = (versionId: number) => ["datasets", versionId, "preflight"] as const;

export function usePreflight(versionId: number) {
  return useQuery({
    queryKey: key(versionId),
    queryFn: () => unwrap(api.GET("/api/datasets/{version_id}/preflight", { params: { path: { version_id: versionId } } })),
    // Poll while the check runs; it is a light job but loads a model.
    refetchInterval: (query) => {
      const state = query.state.data?.job?.state;
      return state === "queued" || state === "running" ? 2_000 : false;
    },
  });
}

export function useRequestPreflight(versionId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: PreflightRequest) =>
      unwrap(api.POST("/api/datasets/{version_id}/preflight", { params: { path: { version_id: versionId } }, body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: key(versionId) }),
  });
}
