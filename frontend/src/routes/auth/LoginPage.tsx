import { useState, type FormEvent } from "react";
import { Navigate, useNavigate, useSearchParams } from "react-router";
import { ApiError } from "../../client/api";
import { Field } from "../../components/Field";
import { Loading } from "../../components/states";
import { useLogin, useMe } from "../../queries/auth";

/** Only same-site paths are followed after login (an open redirect would be a phishing aid). */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

export function LoginPage() {
  const [search] = useSearchParams();
  const next = safeNext(search.get("next"));
  const me = useMe();
  const login = useLogin();
  const navigate = useNavigate();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");

  if (me.isPending) return <Loading label="Checking your session…" />;
  if (me.isSuccess) return <Navigate to={next} replace />;

  function submit(event: FormEvent) {
    event.preventDefault();
    login.mutate({ username: username.trim(), password }, { onSuccess: () => void navigate(next, { replace: true }) });
  }

  const error = login.error instanceof ApiError ? login.error : null;
  return (
    <main className="login-shell" id="main">
      <form className="card login-card stack" onSubmit={submit} aria-label="Log in">
        <div className="row">
          <img src="/favicon.svg" alt="" width={28} height={28} />
          <h1>Apprentice</h1>
        </div>
        <p className="muted small">Teach a model new skills without making it forget the old ones.</p>
        <Field label="Username">
          <input value={username} onChange={(event) => setUsername(event.target.value)} autoComplete="username" autoFocus required />
        </Field>
        <Field label="Password">
          <input type="password" value={password} onChange={(event) => setPassword(event.target.value)} autoComplete="current-password" required />
        </Field>
        {login.isError && (
          <div className="notice bad" role="alert">
            {error?.status === 401 ? "Wrong username or password." : (login.error as Error).message}
          </div>
        )}
        <button type="submit" className="btn primary login-submit" disabled={login.isPending || !username || !password}>
          {login.isPending ? "Logging in…" : "Log in"}
        </button>
        <p className="small muted">
          First start? The server printed the <code>admin</code> password and wrote it to <code>data/admin-password.txt</code>.
        </p>
      </form>
    </main>
  );
}
