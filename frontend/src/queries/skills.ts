import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client/api";

export type Skill = Schemas["SkillRead"];
export type SkillCreate = Schemas["SkillCreate"];

export const skillKeys = {
  all: ["skills"] as const,
  one: (skillId: number) => ["skills", skillId] as const,
};

export function useSkills() {
  return useQuery({ queryKey: skillKeys.all, queryFn: () => unwrap(api.GET("/api/skills")) });
}

export function useSkill(skillId: number) {
  return useQuery({
    queryKey: skillKeys.one(skillId),
    queryFn: () => unwrap(api.GET("/api/skills/{skill_id}", { params: { path: { skill_id: skillId } } })),
  });
}

export function useCreateSkill() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: SkillCreate) => unwrap(api.POST("/api/skills", { body })),
    onSuccess: (skill) => {
      queryClient.setQueryData(skillKeys.one(skill.id), skill);
      void queryClient.invalidateQueries({ queryKey: skillKeys.all, exact: true });
    },
  });
}
