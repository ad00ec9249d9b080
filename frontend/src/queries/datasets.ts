import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, uploadFile, type Schemas } from "../client/api";
import type { paths } from "../client/schema";

export type DatasetVersion = Schemas["DatasetVersionRead"];
export type DatasetVersionDetail = Schemas["DatasetVersionDetail"];
export type DatasetPreview = Schemas["DatasetPreview"];
export type DatasetDiff = Schemas["DatasetDiff"];
export type Example = Schemas["ExampleRead"];
export type RowError = Schemas["RowErrorRead"];
export type ReportFlag = Schemas["ReportFlag"];
export type DatasetReport = Schemas["DatasetReport"];
export type OnError = "reject" | "skip";

export const datasetKeys = {
  versions: (skillId: number) => ["skills", skillId, "datasets"] as const,
  version: (versionId: number) => ["datasets", versionId] as const,
  examples: (versionId: number, offset: number, limit: number) => ["datasets", versionId, "examples", offset, limit] as const,
  diff: (fromId: number, toId: number) => ["datasets", fromId, "diff", toId] as const,
};

export function useDatasetVersions(skillId: number) {
  return useQuery({
    queryKey: datasetKeys.versions(skillId),
    queryFn: () => unwrap(api.GET("/api/skills/{skill_id}/datasets", { params: { path: { skill_id: skillId } } })),
  });
}

export function useDatasetVersion(versionId: number) {
  return useQuery({
    queryKey: datasetKeys.version(versionId),
    queryFn: () => unwrap(api.GET("/api/datasets/{version_id}", { params: { path: { version_id: versionId } } })),
    staleTime: Infinity, // versions are immutable
  });
}

export function useExamples(versionId: number, offset: number, limit: number) {
  return useQuery({
    queryKey: datasetKeys.examples(versionId, offset, limit),
    queryFn: () =>
      unwrap(
        api.GET("/api/datasets/{version_id}/examples", {
          params: { path: { version_id: versionId }, query: { offset, limit } },
        }),
      ),
    staleTime: Infinity,
    placeholderData: keepPreviousData,
  });
}

export function useDatasetDiff(fromId: number, toId: number) {
  return useQuery({
    queryKey: datasetKeys.diff(fromId, toId),
    queryFn: () =>
      unwrap(
        api.GET("/api/datasets/{from_id}/diff/{to_id}", {
          params: { path: { from_id: fromId, to_id: toId }, query: { limit: 200 } },
        }),
      ),
    staleTime: Infinity,
  });
}

// Typed against the generated paths, so a renamed endpoint fails `tsc` rather than at runtime.
const PREVIEW_PATH: keyof paths = "/api/skills/{skill_id}/datasets/preview";
const UPLOAD_PATH: keyof paths = "/api/skills/{skill_id}/datasets";

interface UploadOptions {
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
}

/** Checks a file against the skill without storing anything. */
export async function previewDataset(skillId: number, file: File, options: UploadOptions = {}): Promise<DatasetPreview> {
  const path = PREVIEW_PATH.replace("{skill_id}", String(skillId));
  return (await uploadFile<DatasetPreview>(path, file, options)).data;
}

/** Stores a file as the skill's next version; `created` is false when identical content existed. */
export async function uploadDataset(
  skillId: number,
  file: File,
  onError: OnError,
  options: UploadOptions = {},
): Promise<{ version: DatasetVersionDetail; created: boolean }> {
  const path = `${UPLOAD_PATH.replace("{skill_id}", String(skillId))}?on_error=${onError}`;
  const result = await uploadFile<DatasetVersionDetail>(path, file, options);
  return { version: result.data, created: result.status === 201 };
}

export function useInvalidateVersions(skillId: number) {
  const queryClient = useQueryClient();
  return () => queryClient.invalidateQueries({ queryKey: datasetKeys.versions(skillId) });
}
