import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import { api, unwrap } from "../client/api";
import { CompareIcon, MenuIcon, PlaygroundIcon, SkillsIcon, TracksIcon } from "./icons";

const NAV = [
  { to: "/skills", label: "Skills", icon: SkillsIcon },
  { to: "/tracks", label: "Tracks", icon: TracksIcon },
  { to: "/compare", label: "Compare", icon: CompareIcon },
  { to: "/playground", label: "Playground", icon: PlaygroundIcon },
];

/** Sidebar navigation on wide screens, a top bar with a toggle on narrow ones. */
export function Layout() {
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
