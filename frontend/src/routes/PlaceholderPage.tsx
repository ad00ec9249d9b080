import { PageHeader } from "../components/PageHeader";
import { EmptyState } from "../components/states";

/** Shown for a section whose backend API has not landed yet. */
export function PlaceholderPage({ title }: { title: string }) {
  return (
    <div className="page">
      <PageHeader title={title} />
      <div className="card">
        <EmptyState title={`${title} is coming`}>The API this page needs is not available on this server yet.</EmptyState>
      </div>
    </div>
  );
}
