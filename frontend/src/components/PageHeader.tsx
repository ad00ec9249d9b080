import type { ReactNode } from "react";
import { Link } from "react-router";

export interface Crumb {
  label: string;
  to?: string;
}

export function PageHeader({
  title,
  crumbs = [],
  actions,
  children,
}: {
  title: ReactNode;
  crumbs?: Crumb[];
  actions?: ReactNode;
  children?: ReactNode;
}) {
  return (
    <header className="page-header">
      {crumbs.length > 0 && (
        <nav aria-label="Breadcrumb" className="crumbs">
          {crumbs.map((crumb, index) => (
            <span key={index}>
              {crumb.to ? <Link to={crumb.to}>{crumb.label}</Link> : crumb.label}
              <span className="crumb-sep" aria-hidden="true">
                /
              </span>
            </span>
          ))}
        </nav>
      )}
      <div className="page-title-row">
        <h1>{title}</h1>
        {actions && <div className="page-actions">{actions}</div>}
      </div>
      {children && <div className="page-subtitle">{children}</div>}
    </header>
  );
}
