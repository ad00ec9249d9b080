import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client/api";
import { meKey } from "./auth";

export type Session = Schemas["SessionRead"];
export type User = Schemas["UserRead"];

export const sessionsKey = ["auth", "sessions"] as const;
export const usersKey = ["users"] as const;

/** Your live browser sessions (the one you are using is marked `current`). */
export function useSessions() {
  return useQuery({ queryKey: sessionsKey, queryFn: () => unwrap(api.GET("/api/auth/sessions")) });
}

export function useRevokeSession() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (session: Session) => unwrap(api.DELETE("/api/auth/sessions/{session_id}", { params: { path: { session_id: session.id } } })),
    onSuccess: (_, session) => {
      void queryClient.invalidateQueries({ queryKey: sessionsKey });
      // Ending the session you are using signs you out.
      if (session.current) void queryClient.invalidateQueries({ queryKey: meKey });
    },
  });
}

/** Every account (server admins only). */
export function useUsers(enabled: boolean) {
  return useQuery({ queryKey: usersKey, queryFn: () => unwrap(api.GET("/api/users")), enabled });
}

export type UserAction =
  | { kind: "disable" | "enable" | "delete"; user: User }
  | { kind: "password"; user: User; password: string }
  | { kind: "create"; username: string; password: string; is_superuser: boolean };

async function perform(action: UserAction): Promise<unknown> {
  if (action.kind === "create") {
    const { username, password, is_superuser } = action;
    return unwrap(api.POST("/api/users", { body: { username, password, is_superuser } }));
  }
  const path = { user_id: action.user.id };
  switch (action.kind) {
    case "disable":
      return unwrap(api.POST("/api/users/{user_id}/disable", { params: { path } }));
    case "enable":
      return unwrap(api.POST("/api/users/{user_id}/enable", { params: { path } }));
    case "delete":
      return unwrap(api.DELETE("/api/users/{user_id}", { params: { path } }));
    case "password":
      return unwrap(api.POST("/api/users/{user_id}/password", { params: { path }, body: { new_password: action.password } }));
  }
}

/** Create, disable, re-enable, delete an account or reset its password; the list refreshes after. */
export function useUserAction() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: perform,
    onSettled: () => queryClient.invalidateQueries({ queryKey: usersKey }),
  });
}
