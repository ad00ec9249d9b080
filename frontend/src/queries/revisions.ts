import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client/api";
import type { Example } from "./datasets";
import { datasetKeys } from "./datasets";

export type RevisionRead = Schemas["RevisionRead"];
type RevisionRequest = Schemas["RevisionRequest"];

const PAGE = 500; // the examples endpoint's largest page

/**
 * Pages through a version's rows until `match` finds one (versions are immutable, so the answer is
 * cached for good). Null when no row matches.
 */
export function useFindRow(versionId: number | null, key: string, match: (rows: Example[]) => Example | null) {
  return useQuery({
    queryKey: ["datasets", versionId, "find", key] as const,
    enabled: versionId !== null,
    staleTime: Infinity,
    queryFn: async () => {
      for (let offset = 0; ; offset += PAGE) {
        const page = await unwrap(
          api.GET("/api/datasets/{version_id}/examples", {
            params: { path: { version_id: versionId! }, query: { offset, limit: PAGE } },
          }),
        );
        const found = match(page.items);
        if (found || offset + PAGE >= page.total) return found;
      }
    },
  });
}

/** A new version of a skill: a version's rows plus added ones minus removed ones; the old one stays. */
export function useCreateRevision(skillId: number | null) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ versionId, body }: { versionId: number; body: RevisionRequest }) =>
      unwrap(api.POST("/api/datasets/{version_id}/revisions", { params: { path: { version_id: versionId } }, body })),
    onSuccess: () => {
      if (skillId !== null) void queryClient.invalidateQueries({ queryKey: datasetKeys.versions(skillId) });
    },
  });
}
