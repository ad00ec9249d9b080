import { Link, useLocation } from "react-router";
import { EmptyState } from "../components/states";

export function NotFoundPage() {
  const location = useLocation();
  return (
    <div className="page">
      <div className="card">
        <EmptyState
          title="Page not found"
          action={
            <Link className="btn primary" to="/skills">
              Go to Skills
            </Link>
          }
        >
          Nothing lives at <code>{location.pathname}</code>.
        </EmptyState>
      </div>
    </div>
  );
}
