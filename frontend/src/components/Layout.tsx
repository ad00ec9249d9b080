import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Navigate, NavLink, Outlet, useLocation, useNavigate } from "react-router";
import { ApiError, api, onUnauthorized, unwrap } from "../client/api";
import { meKey, useLogout, useMe, useProjectFilter, type Me } from "../queries/auth";
import { CompareIcon, MenuIcon, PlaygroundIcon, SkillsIcon, TracksIcon } from "./icons";
import { ErrorState, Loading } from "./states";

const NAV = [
  { to: "/skills", label: "Skills", icon: SkillsIcon },
  { to: "/tracks", label: "Tracks", icon: TracksIcon },
  { to: "/compare", label: "Compare", icon: CompareIcon },
  { to: "/playground", label: "Playground", icon: PlaygroundIcon },
];

/**
 * Sidebar navigation on wide screens, a top bar with a toggle on narrow ones. Every page inside
 * needs a signed-in user (or a server run with AUTH_DISABLED); without one it goes to /login.
 */
export function Layout() {
  const me = useMe();
  const location = useLocation();
  const queryClient = useQueryClient();
  // Any 401 (an ended session) re-checks who we are, which sends the user to the login page.
  useEffect(() => onUnauthorized(() => void queryClient.invalidateQueries({ queryKey: meKey })), [queryClient]);

  if (me.isPending) return <Loading label="Loading Apprentice…" />;
  if (me.isError) {
    if (me.error instanceof ApiError && me.error.status === 401) {
      const next = location.pathname + location.search;
      return <Navigate to={`/login?next=${encodeURIComponent(next)}`} replace />;
    }
    return (
      <main className="content" id="main">
        <ErrorState error={me.error} onRetry={() => void me.refetch()} />
      </main>
    );
  }
  return <Shell me={me.data} />;
}

function Shell({ me }: { me: Me }) {
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  useEffect(() => setMenuOpen(false), [location.pathname]);

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className={menuOpen ? "sidebar open" : "sidebar"}>
        <div className="brand">
          <NavLink to="/" className="brand-link" aria-label="Apprentice home">
            <img src="/favicon.svg" alt="" width={22} height={22} />
            <span>Apprentice</span>
          </NavLink>
          <button
            type="button"
            className="menu-toggle"
            aria-label="Toggle navigation"
            aria-expanded={menuOpen}
            aria-controls="primary-nav"
            onClick={() => setMenuOpen((open) => !open)}
          >
            <MenuIcon />
          </button>
        </div>
        <nav id="primary-nav" aria-label="Primary">
          {NAV.map(({ to, label, icon: NavIcon }) => (
            <NavLink
              key={to}
              to={to}
              className={({ isActive }) =>
                isActive || (to === "/skills" && location.pathname === "/") ? "nav-item active" : "nav-item"
              }
            >
              <NavIcon />
              <span>{label}</span>
            </NavLink>
          ))}
        </nav>
        <UserBlock me={me} />
        <HealthBadge />
      </aside>
      <main id="main" className="content" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}

function HealthBadge() {
  const health = useQuery({
    queryKey: ["health"],
    queryFn: () => unwrap(api.GET("/api/health")),
    refetchInterval: 15_000,
    retry: false,
  });
  const ok = health.data?.status === "ok";
  const label = health.isPending ? "connecting" : ok ? "connected" : "backend unreachable";
  return (
    <div className="health" title={health.data ? `database ${health.data.database} · broker ${health.data.broker}` : label}>
      <span className={`dot ${health.isPending ? "pending" : ok ? "ok" : "bad"}`} aria-hidden="true" />
      <span>{label}</span>
      {health.data && (
        <span className="muted">
          {health.data.database} · {health.data.broker}
        </span>
      )}
    </div>
  );
}

function UserBlock({ me }: { me: Me }) {
  const [projectId, setProject] = useProjectFilter();
  const logout = useLogout();
  const navigate = useNavigate();
  const known = me.projects.some((project) => project.id === projectId);
  useEffect(() => {
    // A remembered project this user cannot see (another account, or removed) is forgotten.
    if (projectId !== null && !known) setProject(null);
  }, [projectId, known, setProject]);
  return (
    <div className="user-block">
      <div className="who">
        <span aria-hidden="true">●</span>
        <NavLink to="/account" data-testid="username" title="Account: password and API tokens">
          {me.user.username}
        </NavLink>
        {me.user.is_superuser && <span className="muted">server admin</span>}
      </div>
      {me.projects.length > 1 && (
        <label className="stack" style={{ gap: 2 }}>
          Project
          <select value={known ? String(projectId) : ""} onChange={(event) => setProject(Number(event.target.value) || null)}>
            <option value="">All projects</option>
            {me.projects.map((project) => (
              <option key={project.id} value={project.id}>
                {project.name} ({project.role})
              </option>
            ))}
          </select>
        </label>
      )}
      {me.auth === "session" && (
        <button type="button" className="btn small" disabled={logout.isPending} onClick={() => logout.mutate(undefined, { onSettled: () => void navigate("/login") })}>
          Log out
        </button>
      )}
      {me.auth === "disabled" && <span className="muted">single-user mode (AUTH_DISABLED)</span>}
    </div>
  );
}
