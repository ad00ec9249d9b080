import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client/api";
import { trackKeys } from "./tracks";

export type TrackAdapters = Schemas["TrackAdapters"];
export type SkillAdapter = Schemas["SkillAdapter"];
export type AdapterGenerateRequest = Schemas["AdapterGenerateRequest"];

const adapterKeys = { track: (trackId: number) => ["tracks", trackId, "adapters"] as const };

/** Each skill's adapters on a track of one adapter per skill, and the active one (track 0: not asked). */
export function useTrackAdapters(trackId: number) {
  return useQuery({
    queryKey: adapterKeys.track(trackId),
    queryFn: () => unwrap(api.GET("/api/tracks/{track_id}/adapters", { params: { path: { track_id: trackId } } })),
    enabled: trackId > 0,
  });
}

/** Per-skill rollback: one skill's active adapter (null: off); the others stay. One the retention budget held needs force. */
export function useSetSkillAdapter(trackId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ skillId, checkpointId, force = false }: { skillId: number; checkpointId: number | null; force?: boolean }) =>
      unwrap(
        api.PUT("/api/tracks/{track_id}/adapters/{skill_id}", {
          params: { path: { track_id: trackId, skill_id: skillId } },
          body: { checkpoint_id: checkpointId, force },
        }),
      ),
    onSuccess: (adapters) => {
      queryClient.setQueryData(adapterKeys.track(trackId), adapters);
      void queryClient.invalidateQueries({ queryKey: trackKeys.one(trackId), exact: true });
    },
  });
}

/** A chat turn answered by the track's base with exactly these adapters on (a generation job). */
export function useGenerateWithAdapters(trackId: number) {
  return useMutation({
    mutationFn: (body: AdapterGenerateRequest) =>
      unwrap(api.POST("/api/tracks/{track_id}/generate", { params: { path: { track_id: trackId } }, body })),
  });
}
