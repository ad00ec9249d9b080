import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useSyncExternalStore } from "react";
import { api, unwrap, type Schemas } from "../client/api";

export type Me = Schemas["Me"];
export const meKey = ["auth", "me"] as const;

export function useMe() {
  return useQuery({
    queryKey: meKey,
    queryFn: () => unwrap(api.GET("/api/auth/me")),
    retry: false,
    staleTime: 60_000,
  });
}

export function useLogin() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: { username: string; password: string }) => unwrap(api.POST("/api/auth/login", { body })),
    onSuccess: (me) => {
      // Everything cached belonged to no one (or someone else): start clean as this user.
      queryClient.clear();
      queryClient.setQueryData(meKey, me);
    },
  });
}

export function useLogout() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.POST("/api/auth/logout")),
    onSettled: () => {
      queryClient.clear();
      void queryClient.invalidateQueries({ queryKey: meKey });
    },
  });
}

// ---- the project the lists are filtered to (kept in localStorage; null = every visible project)

const PROJECT_KEY = "apprentice.project";
const listeners = new Set<() => void>();

function readProject(): number | null {
  if (typeof localStorage === "undefined") return null;
  const value = Number(localStorage.getItem(PROJECT_KEY));
  return Number.isInteger(value) && value > 0 ? value : null;
}

export function useProjectFilter(): [number | null, (projectId: number | null) => void] {
  const projectId = useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    readProject,
    () => null,
  );
  const setProject = useCallback((next: number | null) => {
    if (next === null) localStorage.removeItem(PROJECT_KEY);
    else localStorage.setItem(PROJECT_KEY, String(next));
    listeners.forEach((listener) => listener());
  }, []);
  return [projectId, setProject];
}
