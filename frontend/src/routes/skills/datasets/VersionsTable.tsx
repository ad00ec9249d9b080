import { Link } from "react-router";
import { formatCount, shortHash, timeAgo } from "../../../lib/format";
import type { DatasetVersion } from "../../../queries/datasets";
import { formatLabel } from "./PreviewSummary";

/** A skill's versions, newest first, with a checkbox per row to pick two for a diff. */
export function VersionsTable({
  skillId,
  versions,
  selected,
  onToggle,
}: {
  skillId: number;
  versions: DatasetVersion[];
  selected: number[];
  onToggle: (versionId: number) => void;
}) {
  const newestFirst = [...versions].sort((a, b) => b.version - a.version);
  return (
    <div className="table-wrap">
      <table className="data" aria-label="Dataset versions">
        <thead>
          <tr>
            <th style={{ width: 28 }}>
              <span className="sr-only">Select for diff</span>
            </th>
            <th>Version</th>
            <th>File</th>
            <th>Format</th>
            <th className="num">Rows</th>
            <th className="num">Train</th>
            <th className="num">Eval</th>
            <th className="num">Rejected</th>
            <th>sha256</th>
            <th>Uploaded</th>
          </tr>
        </thead>
        <tbody>
          {newestFirst.map((version) => {
            const isSelected = selected.includes(version.id);
            return (
              <tr key={version.id} className={isSelected ? "selected" : undefined}>
                <td>
                  <input
                    type="checkbox"
                    checked={isSelected}
                    onChange={() => onToggle(version.id)}
                    aria-label={`Select version ${version.version} for a diff`}
                  />
                </td>
                <td className="nowrap">
                  <Link to={`/skills/${skillId}/versions/${version.id}`}>v{version.version}</Link>
                </td>
                <td className="clip mono" title={version.filename}>
                  {version.filename || <span className="faint">—</span>}
                </td>
                <td>{formatLabel(version.format)}</td>
                <td className="num">{formatCount(version.n_examples)}</td>
                <td className="num">{formatCount(version.n_train)}</td>
                <td className="num">{formatCount(version.n_eval)}</td>
                <td className={version.n_rejected ? "num bad-text" : "num muted"}>{formatCount(version.n_rejected)}</td>
                <td className="hash" title={version.sha256}>
                  {shortHash(version.sha256, 12)}
                </td>
                <td className="nowrap muted" title={version.created_at}>
                  {timeAgo(version.created_at)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
