import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent, type ReactNode } from "react";
import { api, unwrap, type Schemas } from "../../client/api";
import { Field } from "../../components/Field";
import { PageHeader } from "../../components/PageHeader";
import { EmptyState, ErrorState, QueryView, SkeletonRows } from "../../components/states";
import { formatDate, timeAgo } from "../../lib/format";
import { useMe } from "../../queries/auth";
import { SessionsList } from "./SessionsList";
import { UsersAdmin } from "./UsersAdmin";

type Token = Schemas["TokenRead"];
const tokensKey = ["auth", "tokens"] as const;

/** Your password, where you are signed in, the API tokens the CLI and scripts use
 * (`Authorization: Bearer ...`), and for server admins every account. */
export function AccountPage() {
  const me = useMe();
  return (
    <div className="page">
      <PageHeader title="Account">
        Signed in as <b>{me.data?.user.username}</b>
        {me.data && me.data.projects.length > 0 && <> · {me.data.projects.map((project) => `${project.name} (${project.role})`).join(", ")}</>}
      </PageHeader>
      {me.data?.auth === "disabled" && (
        <div className="notice warn">This server runs in single-user mode (AUTH_DISABLED): passwords and tokens are not needed on it.</div>
      )}
      <div className="grid-2" style={{ alignItems: "start" }}>
        <Card title="API tokens">
          <Tokens />
        </Card>
        <Card title="Change password">
          <PasswordForm />
        </Card>
      </div>
      <Card title="Browser sessions">
        <SessionsList />
      </Card>
      {me.data?.user.is_superuser && (
        <Card title="Users">
          <UsersAdmin myId={me.data.user.id} />
        </Card>
      )}
    </div>
  );
}

function Card({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="card">
      <div className="card-header">
        <h2>{title}</h2>
      </div>
      <div className="card-body">{children}</div>
    </section>
  );
}

function Tokens() {
  const queryClient = useQueryClient();
  const tokens = useQuery({ queryKey: tokensKey, queryFn: () => unwrap(api.GET("/api/auth/tokens")) });
  const create = useMutation({
    mutationFn: (body: { name: string; expires_in_days: number | null }) => unwrap(api.POST("/api/auth/tokens", { body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: tokensKey }),
  });
  const revoke = useMutation({
    mutationFn: (tokenId: number) => unwrap(api.DELETE("/api/auth/tokens/{token_id}", { params: { path: { token_id: tokenId } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: tokensKey }),
  });
  const [name, setName] = useState("");
  const [days, setDays] = useState("90");

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate({ name: name.trim(), expires_in_days: days ? Number(days) : null }, { onSuccess: () => setName("") });
  }

  return (
    <div className="stack">
      <form className="row" onSubmit={submit} aria-label="New API token" style={{ alignItems: "flex-end" }}>
        <Field label="Name">
          <input value={name} onChange={(event) => setName(event.target.value)} placeholder="e.g. laptop CLI" required />
        </Field>
        <Field label="Expires in (days)">
          <input type="number" min={1} max={3650} value={days} onChange={(event) => setDays(event.target.value)} placeholder="never" style={{ width: 110 }} />
        </Field>
        <button type="submit" className="btn primary" disabled={create.isPending || !name.trim()}>
          Create token
        </button>
      </form>
      {create.isError && <ErrorState error={create.error} title="Not created" />}
      {create.data && (
        <div className="notice ok stack" role="status" style={{ gap: 4 }}>
          <span>Copy the token now: it is shown this once and stored only as a hash.</span>
          <code className="token-secret" data-testid="token-secret">
            {create.data.token}
          </code>
        </div>
      )}
      <QueryView query={tokens} loading={<SkeletonRows rows={2} columns={3} />}>
        {(list) =>
          list.length === 0 ? (
            <EmptyState title="No tokens">Create one for the `apprentice` CLI or a script.</EmptyState>
          ) : (
            <TokenTable tokens={list} onRevoke={(token) => revoke.mutate(token.id)} revoking={revoke.isPending ? (revoke.variables ?? null) : null} />
          )
        }
      </QueryView>
    </div>
  );
}

function TokenTable({ tokens, onRevoke, revoking }: { tokens: Token[]; onRevoke: (token: Token) => void; revoking: number | null }) {
  return (
    <table className="data" aria-label="API tokens">
      <thead>
        <tr>
          <th>Name</th>
          <th>Starts with</th>
          <th>Last used</th>
          <th>Expires</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {tokens.map((token) => (
          <tr key={token.id}>
            <td>{token.name}</td>
            <td className="mono">{token.prefix}…</td>
            <td className="muted nowrap">{token.last_used_at ? timeAgo(token.last_used_at) : "never"}</td>
            <td className="muted nowrap">{token.revoked_at ? "revoked" : token.expires_at ? formatDate(token.expires_at) : "never"}</td>
            <td className="num">
              {!token.revoked_at && (
                <button type="button" className="btn small danger" disabled={revoking === token.id} onClick={() => onRevoke(token)}>
                  Revoke
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function PasswordForm() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const change = useMutation({
    mutationFn: (body: { current_password: string; new_password: string }) => unwrap(api.POST("/api/auth/password", { body })),
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    change.mutate({ current_password: current, new_password: next }, { onSuccess: () => (setCurrent(""), setNext("")) });
  }
  return (
    <form className="stack" onSubmit={submit} aria-label="Change password">
      <Field label="Current password">
        <input type="password" autoComplete="current-password" value={current} onChange={(event) => setCurrent(event.target.value)} required />
      </Field>
      <Field label="New password" hint="at least 12 characters; your other browser sessions end">
        <input type="password" autoComplete="new-password" minLength={12} value={next} onChange={(event) => setNext(event.target.value)} required />
      </Field>
      {change.isError && <ErrorState error={change.error} title="Not changed" />}
      {change.isSuccess && (
        <div className="notice ok" role="status">
          Password changed.
        </div>
      )}
      <div className="form-actions">
        <button type="submit" className="btn primary" disabled={change.isPending || !current || next.length < 12}>
          Change password
        </button>
      </div>
    </form>
  );
}
