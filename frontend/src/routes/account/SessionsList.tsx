import { EmptyState, ErrorState, QueryView, SkeletonRows } from "../../components/states";
import { formatDate, timeAgo } from "../../lib/format";
import { useRevokeSession, useSessions } from "../../queries/account";

/** Where you are signed in: each browser session with when it started and was last seen; end any of them. */
export function SessionsList() {
  const sessions = useSessions();
  const revoke = useRevokeSession();
  return (
    <div className="stack">
      {revoke.isError && <ErrorState error={revoke.error} title="Not ended" />}
      <QueryView query={sessions} loading={<SkeletonRows rows={2} columns={4} />}>
        {(list) =>
          list.length === 0 ? (
            <EmptyState title="No browser sessions">You are using an API token; log in from a browser to see it here.</EmptyState>
          ) : (
            <table className="data" aria-label="Browser sessions">
              <thead>
                <tr>
                  <th>Browser</th>
                  <th>Address</th>
                  <th>Signed in</th>
                  <th>Last seen</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {list.map((session) => (
                  <tr key={session.id}>
                    <td title={session.user_agent}>
                      {describeAgent(session.user_agent)}
                      {session.current && <span className="badge" style={{ marginLeft: 6 }}>this browser</span>}
                    </td>
                    <td className="mono">{session.client_ip || "—"}</td>
                    <td className="muted nowrap">{formatDate(session.created_at)}</td>
                    <td className="muted nowrap">{session.last_used_at ? timeAgo(session.last_used_at) : "—"}</td>
                    <td className="num">
                      <button
                        type="button"
                        className="btn small danger"
                        disabled={revoke.isPending && revoke.variables?.id === session.id}
                        onClick={() => revoke.mutate(session)}
                      >
                        {session.current ? "Sign out" : "End"}
                      </button>
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

/** A short name for a User-Agent string: the browser and the system, when they can be told. */
export function describeAgent(agent: string): string {
  if (!agent) return "unknown browser";
  const browser = /Edg\//.test(agent)
    ? "Edge"
    : /Firefox\//.test(agent)
      ? "Firefox"
      : /Chrome\//.test(agent)
        ? "Chrome"
        : /Safari\//.test(agent)
          ? "Safari"
          : null;
  const system = /Windows/.test(agent) ? "Windows" : /Mac OS X|Macintosh/.test(agent) ? "macOS" : /Android/.test(agent) ? "Android" : /iPhone|iPad/.test(agent) ? "iOS" : /Linux/.test(agent) ? "Linux" : null;
  if (!browser) return agent.length > 40 ? `${agent.slice(0, 40)}…` : agent;
  return system ? `${browser} on ${system}` : browser;
}
