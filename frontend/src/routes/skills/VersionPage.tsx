import { useState } from "react";
import { PageHeader } from "../../components/PageHeader";
import { Stat } from "../../components/Stat";
import { EmptyState, ErrorState, Loading, QueryView, SkeletonRows } from "../../components/states";
import { formatCount, formatDate } from "../../lib/format";
import { useNumericParam } from "../../lib/params";
import { useDatasetVersion, useExamples, type DatasetReport } from "../../queries/datasets";
import { useSkill } from "../../queries/skills";
import { formatLabel } from "./datasets/PreviewSummary";
import { PreflightPanel } from "./PreflightPanel";
import { ErrorTable, ExamplesTable, FlagTable } from "./datasets/RowTables";

const PAGE_SIZE = 25;

export function VersionPage() {
  const skillId = useNumericParam("skillId");
  const versionId = useNumericParam("versionId");
  if (skillId === null || versionId === null) return <ErrorState title="Not found" error={new Error("Bad link.")} />;
  return <Version skillId={skillId} versionId={versionId} />;
}

function Version({ skillId, versionId }: { skillId: number; versionId: number }) {
  const skill = useSkill(skillId);
  const version = useDatasetVersion(versionId);
  const [tab, setTab] = useState<"rows" | "report" | "preflight">("rows");
  const crumbs = [{ label: "Skills", to: "/skills" }, { label: skill.data?.name ?? `Skill ${skillId}`, to: `/skills/${skillId}` }];

  if (version.isPending) return <Loading label="Loading version…" />;
  if (version.isError)
    return (
      <div className="page">
        <PageHeader title="Version" crumbs={crumbs} />
        <ErrorState error={version.error} onRetry={() => void version.refetch()} />
      </div>
    );
  const data = version.data;
  const report = data.report;
  const problems = (report.error_count ?? 0) + (report.flag_count ?? 0);

  return (
    <div className="page">
      <PageHeader
        title={`Version ${data.version}`}
        crumbs={crumbs}
        actions={
          <a className="btn" href={`/api/datasets/${data.id}/export.csv`} download>
            Export CSV
          </a>
        }
      >
        <span className="mono">{data.filename || "unnamed upload"}</span> · uploaded {formatDate(data.created_at)} ·{" "}
        <span className="hash" title="sha256 of the normalised rows">
          sha256 {data.sha256}
        </span>
      </PageHeader>
      <div className="stats">
        <Stat label="Format" value={formatLabel(data.format)} />
        <Stat label="Rows" value={formatCount(data.n_examples)} />
        <Stat label="Train" value={formatCount(data.n_train)} />
        <Stat label="Eval" value={formatCount(data.n_eval)} />
        <Stat label="Rejected" value={formatCount(data.n_rejected)} tone={data.n_rejected ? "bad" : undefined} />
        <Stat label="Flagged" value={formatCount(report.flag_count ?? 0)} tone={report.flag_count ? "warn" : undefined} />
      </div>
      <div className="card">
        <div className="tabs" role="tablist" aria-label="Version contents">
          <button type="button" role="tab" className="tab" aria-selected={tab === "rows"} onClick={() => setTab("rows")}>
            Rows
          </button>
          <button type="button" role="tab" className="tab" aria-selected={tab === "report"} onClick={() => setTab("report")}>
            Upload report{" "}
            {problems > 0 && <span className="badge warn">{problems}</span>}
          </button>
          <button type="button" role="tab" className="tab" aria-selected={tab === "preflight"} onClick={() => setTab("preflight")}>
            Pre-flight check
          </button>
        </div>
        <div role="tabpanel">
          {tab === "rows" ? (
            <RowsPager versionId={versionId} total={data.n_examples} />
          ) : tab === "report" ? (
            <Report report={report} />
          ) : (
            <div className="card-body">
              <PreflightPanel versionId={versionId} />
            </div>
          )}
        </div>
      </div>
    </div>
  );
}

function RowsPager({ versionId, total }: { versionId: number; total: number }) {
  const [offset, setOffset] = useState(0);
  const page = useExamples(versionId, offset, PAGE_SIZE);
  const last = Math.min(offset + PAGE_SIZE, total);
  return (
    <>
      <QueryView query={page} loading={<SkeletonRows rows={6} columns={4} />}>
        {(data) =>
          data.items.length === 0 ? <EmptyState title="No rows" /> : <ExamplesTable rows={data.items} caption="Rows of this version" />
        }
      </QueryView>
      <div className="pager">
        <span className="small muted">
          {total === 0 ? "0 rows" : `${formatCount(offset + 1)}–${formatCount(last)} of ${formatCount(total)}`}
        </span>
        <button type="button" className="btn small" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE_SIZE))}>
          Previous
        </button>
        <button type="button" className="btn small" disabled={last >= total} onClick={() => setOffset(offset + PAGE_SIZE)}>
          Next
        </button>
      </div>
    </>
  );
}

function Report({ report }: { report: DatasetReport }) {
  const errors = report.errors ?? [];
  const flags = report.flags ?? [];
  const errorCount = report.error_count ?? errors.length;
  const flagCount = report.flag_count ?? flags.length;
  if (errorCount === 0 && flagCount === 0)
    return <EmptyState title="Clean upload">Every row was accepted and nothing was flagged.</EmptyState>;
  return (
    <div className="card-body stack">
      {errorCount > 0 && (
        <section className="stack" style={{ gap: 6 }}>
          <h3>Rejected rows (skipped at upload)</h3>
          <ErrorTable errors={errors} total={errorCount} />
        </section>
      )}
      {flagCount > 0 && (
        <section className="stack" style={{ gap: 6 }}>
          <h3>Flagged for a human to read</h3>
          <FlagTable flags={flags} total={flagCount} />
        </section>
      )}
    </div>
  );
}
