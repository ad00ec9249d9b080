import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client/api";
import { useProjectFilter } from "./auth";

export type Skill = Schemas["SkillRead"];
export type SkillCreate = Schemas["SkillCreate"];

export const skillKeys = {
  all: ["skills"] as const,
  one: (skillId: number) => ["skills", skillId] as const,
};

/** Skills of the project chosen in the sidebar (all visible ones when none is chosen). */
export function useSkills() {
  const [projectId] = useProjectFilter();
  return useQuery({
    queryKey: [...skillKeys.all, { projectId }],
    queryFn: () => unwrap(api.GET("/api/skills", { params: { query: projectId ? { project_id: projectId } : {} } })),
  });
}

export function useSkill(skillId: number) {
  return useQuery({
    queryKey: skillKeys.one(skillId),
    queryFn: () => unwrap(api.GET("/api/skills/{skill_id}", { params: { path: { skill_id: skillId } } })),
  });
}

export function useCreateSkill() {
  const queryClient = useQueryClient();
  const [projectId] = useProjectFilter();
  return useMutation({
    mutationFn: (body: SkillCreate) =>
      unwrap(api.POST("/api/skills", { body: projectId ? { ...body, project_id: projectId } : body })),
    onSuccess: (skill) => {
      queryClient.setQueryData(skillKeys.one(skill.id), skill);
      void queryClient.invalidateQueries({ queryKey: skillKeys.all });
    },
  });
}
