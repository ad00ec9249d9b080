import { useState, type FormEvent } from "react";
import { Field } from "../../components/Field";
import { EmptyState, ErrorState, QueryView, SkeletonRows } from "../../components/states";
import { formatDate } from "../../lib/format";
import { useUserAction, useUsers, type User, type UserAction } from "../../queries/account";

/** Server admins: every account, with disable / enable / reset password / delete, and a form to add one. */
export function UsersAdmin({ myId }: { myId: number }) {
  const users = useUsers(true);
  const action = useUserAction();
  const [resetting, setResetting] = useState<number | null>(null);
  const [deleting, setDeleting] = useState<number | null>(null);
  const done = action.isSuccess && action.variables ? describe(action.variables) : null;

  function run(next: UserAction) {
    action.mutate(next, { onSuccess: () => (setResetting(null), setDeleting(null)) });
  }

  return (
    <div className="stack">
      <NewUserForm onCreate={(body) => run({ kind: "create", ...body })} busy={action.isPending} />
      {action.isError && <ErrorState error={action.error} title="Not done" />}
      {done && (
        <div className="notice ok" role="status">
          {done}
        </div>
      )}
      <QueryView query={users} loading={<SkeletonRows rows={3} columns={4} />}>
        {(list) =>
          list.length === 0 ? (
            <EmptyState title="No accounts" />
          ) : (
            <table className="data" aria-label="Users">
              <thead>
                <tr>
                  <th>User</th>
                  <th>Status</th>
                  <th>Created</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {list.map((user) => (
                  <tr key={user.id}>
                    <td>
                      {user.username}
                      {user.is_superuser && <span className="badge" style={{ marginLeft: 6 }}>server admin</span>}
                      {user.id === myId && <span className="muted"> (you)</span>}
                    </td>
                    <td className={user.is_active ? "" : "muted"}>{user.is_active ? "active" : "disabled"}</td>
                    <td className="muted nowrap">{formatDate(user.created_at)}</td>
                    <td className="num">
                      {resetting === user.id ? (
                        <ResetPasswordForm user={user} busy={action.isPending} onReset={(password) => run({ kind: "password", user, password })} onCancel={() => setResetting(null)} />
                      ) : (
                        <div className="row" style={{ justifyContent: "flex-end", gap: 6 }}>
                          {user.id !== myId &&
                            (user.is_active ? (
                              <button type="button" className="btn small" disabled={action.isPending} onClick={() => run({ kind: "disable", user })}>
                                Disable
                              </button>
                            ) : (
                              <button type="button" className="btn small" disabled={action.isPending} onClick={() => run({ kind: "enable", user })}>
                                Enable
                              </button>
                            ))}
                          <button type="button" className="btn small" onClick={() => setResetting(user.id)}>
                            Reset password
                          </button>
                          {user.id !== myId &&
                            (deleting === user.id ? (
                              <>
                                <button type="button" className="btn small danger" disabled={action.isPending} onClick={() => run({ kind: "delete", user })}>
                                  Delete {user.username}
                                </button>
                                <button type="button" className="btn small" onClick={() => setDeleting(null)}>
                                  Keep
                                </button>
                              </>
                            ) : (
                              <button type="button" className="btn small danger" onClick={() => setDeleting(user.id)}>
                                Delete…
                              </button>
                            ))}
                        </div>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </QueryView>
    </div>
  );
}

/** What a finished action did, in words (the API answers 204 for most of them). */
export function describe(action: UserAction): string {
  switch (action.kind) {
    case "create":
      return `Created ${action.username.toLowerCase()}.`;
    case "disable":
      return `Disabled ${action.user.username}: their sessions ended and their API tokens stopped working.`;
    case "enable":
      return `Enabled ${action.user.username}.`;
    case "delete":
      return `Deleted ${action.user.username}.`;
    case "password":
      return `New password set for ${action.user.username}; their browser sessions ended.`;
  }
}

function ResetPasswordForm({ user, busy, onReset, onCancel }: { user: User; busy: boolean; onReset: (password: string) => void; onCancel: () => void }) {
  const [password, setPassword] = useState("");
  function submit(event: FormEvent) {
    event.preventDefault();
    onReset(password);
  }
  return (
    <form className="row" onSubmit={submit} aria-label={`New password for ${user.username}`} style={{ justifyContent: "flex-end", gap: 6 }}>
      <input type="password" autoComplete="new-password" minLength={12} placeholder="new password (12+ characters)" value={password} onChange={(event) => setPassword(event.target.value)} required />
      <button type="submit" className="btn small primary" disabled={busy || password.length < 12}>
        Set
      </button>
      <button type="button" className="btn small" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}

function NewUserForm({ onCreate, busy }: { onCreate: (body: { username: string; password: string; is_superuser: boolean }) => void; busy: boolean }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [admin, setAdmin] = useState(false);
  function submit(event: FormEvent) {
    event.preventDefault();
    onCreate({ username: username.trim(), password, is_superuser: admin });
    setUsername("");
    setPassword("");
    setAdmin(false);
  }
  return (
    <form className="row" onSubmit={submit} aria-label="New user" style={{ alignItems: "flex-end", flexWrap: "wrap" }}>
      <Field label="Username">
        <input value={username} onChange={(event) => setUsername(event.target.value)} autoComplete="off" required />
      </Field>
      <Field label="Password" hint="12+ characters; they can change it">
        <input type="password" autoComplete="new-password" minLength={12} value={password} onChange={(event) => setPassword(event.target.value)} required />
      </Field>
      <label className="row" style={{ gap: 4 }}>
        <input type="checkbox" checked={admin} onChange={(event) => setAdmin(event.target.checked)} /> server admin
      </label>
      <button type="submit" className="btn primary" disabled={busy || !username.trim() || password.length < 12}>
        Add user
      </button>
    </form>
  );
}
