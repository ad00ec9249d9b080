import { useNavigate } from "react-router";
import { PageHeader } from "../../components/PageHeader";
import { Stat } from "../../components/Stat";
import { EmptyState, ErrorState, Loading } from "../../components/states";
import { formatCount, shortHash } from "../../lib/format";
import { useNumericParam } from "../../lib/params";
import { useDatasetDiff, useDatasetVersions, type Example } from "../../queries/datasets";
import { useSkill } from "../../queries/skills";
import { ChatPrompt } from "./datasets/RowTables";

export function DiffPage() {
  const skillId = useNumericParam("skillId");
  const fromId = useNumericParam("fromId");
  const toId = useNumericParam("toId");
  if (skillId === null || fromId === null || toId === null) return <ErrorState title="Not found" error={new Error("Bad link.")} />;
  return <Diff skillId={skillId} fromId={fromId} toId={toId} />;
}

function Diff({ skillId, fromId, toId }: { skillId: number; fromId: number; toId: number }) {
  const skill = useSkill(skillId);
  const versions = useDatasetVersions(skillId);
  const diff = useDatasetDiff(fromId, toId);
  const navigate = useNavigate();
  const crumbs = [{ label: "Skills", to: "/skills" }, { label: skill.data?.name ?? `Skill ${skillId}`, to: `/skills/${skillId}` }];

  const picker = (side: "from" | "to", current: number) => (
    <select
      aria-label={side === "from" ? "Compare from version" : "Compare to version"}
      value={current}
      style={{ width: "auto" }}
      onChange={(event) => {
        const picked = Number(event.target.value);
        void navigate(`/skills/${skillId}/diff/${side === "from" ? picked : fromId}/${side === "to" ? picked : toId}`);
      }}
    >
      {(versions.data ?? []).map((version) => (
        <option key={version.id} value={version.id}>
          v{version.version}
        </option>
      ))}
    </select>
  );

  return (
    <div className="page">
      <PageHeader
        title="Compare versions"
        crumbs={crumbs}
        actions={
          versions.data && (
            <span className="row">
              {picker("from", fromId)} <span aria-hidden="true">→</span> {picker("to", toId)}
            </span>
          )
        }
      >
        Rows are compared by their normalised content, so re-uploading the same rows in another format shows no change.
      </PageHeader>
      {diff.isPending ? (
        <Loading label="Comparing…" />
      ) : diff.isError ? (
        <ErrorState error={diff.error} onRetry={() => void diff.refetch()} />
      ) : (
        <>
          <div className="stats">
            <Stat label="From" value={`v${diff.data.from_version.version}`} />
            <Stat label="To" value={`v${diff.data.to_version.version}`} />
            <Stat label="Added" value={`+${formatCount(diff.data.n_added)}`} tone={diff.data.n_added ? "ok" : undefined} />
            <Stat label="Removed" value={`−${formatCount(diff.data.n_removed)}`} tone={diff.data.n_removed ? "bad" : undefined} />
            <Stat label="Unchanged" value={formatCount(diff.data.n_unchanged)} />
          </div>
          <p className="small muted">
            <span className="hash">{shortHash(diff.data.from_version.sha256)}</span> →{" "}
            <span className="hash">{shortHash(diff.data.to_version.sha256)}</span>
          </p>
          <div className="card">
            {diff.data.n_added + diff.data.n_removed === 0 ? (
              <EmptyState title="No differences">Both versions hold the same rows.</EmptyState>
            ) : (
              <DiffTable added={diff.data.added} removed={diff.data.removed} nAdded={diff.data.n_added} nRemoved={diff.data.n_removed} />
            )}
          </div>
        </>
      )}
    </div>
  );
}

export function DiffTable({ added, removed, nAdded, nRemoved }: { added: Example[]; removed: Example[]; nAdded: number; nRemoved: number }) {
  const shown = added.length + removed.length;
  return (
    <>
      <div className="table-wrap">
        <table className="data" aria-label="Rows added and removed">
          <thead>
            <tr>
              <th className="diff-sign">
                <span className="sr-only">Change</span>
              </th>
              <th className="num col-line">Line</th>
              <th>Split</th>
              <th>Prompt</th>
              <th>Demonstration</th>
            </tr>
          </thead>
          <tbody>
            {removed.map((row) => (
              <DiffRow key={`r${row.index}`} row={row} kind="removed" />
            ))}
            {added.map((row) => (
              <DiffRow key={`a${row.index}`} row={row} kind="added" />
            ))}
          </tbody>
        </table>
      </div>
      {shown < nAdded + nRemoved && (
        <p className="small muted" style={{ padding: "8px 12px" }}>
          Showing {formatCount(shown)} of {formatCount(nAdded + nRemoved)} changed rows.
        </p>
      )}
    </>
  );
}

function DiffRow({ row, kind }: { row: Example; kind: "added" | "removed" }) {
  return (
    <tr className={`diff-${kind}`}>
      <td className="diff-sign" aria-label={kind}>
        {kind === "added" ? "+" : "−"}
      </td>
      <td className="num mono muted">{row.line}</td>
      <td>
        <span className="badge">{row.split}</span>
      </td>
      <td className="cell-text">
        <ChatPrompt messages={row.prompt} />
      </td>
      <td className="cell-text">
        <span className="clamp">{row.demonstration}</span>
      </td>
    </tr>
  );
}
