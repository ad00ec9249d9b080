/** What an upload of this file would store, shown before anything is stored. */
import { Link } from "react-router";
import { AlertIcon, CheckIcon, FileIcon } from "../../../components/icons";
import { Stat } from "../../../components/Stat";
import { formatBytes, formatCount, plural, shortHash } from "../../../lib/format";
import type { DatasetPreview, OnError } from "../../../queries/datasets";
import { ErrorTable, ExamplesTable, FlagTable } from "./RowTables";

const FORMAT_LABELS: Record<string, string> = { jsonl: "JSONL", json_array: "JSON array", csv: "CSV" };

export function formatLabel(format: string | null | undefined): string {
  if (!format) return "not recognised";
  return FORMAT_LABELS[format] ?? format;
}

/** The verdict in one line: can this file be stored, and how. */
export function previewVerdict(preview: DatasetPreview): { tone: "ok" | "warn" | "bad"; text: string } {
  if (preview.existing_version) {
    return { tone: "ok", text: `Identical to version ${preview.existing_version.version}: uploading stores nothing new.` };
  }
  if (preview.accepted_as_is) {
    return { tone: "ok", text: `Ready: ${plural(preview.n_examples, "row")} will be stored as a new version.` };
  }
  if (preview.accepted_with_skip) {
    return {
      tone: "warn",
      text: `${plural(preview.error_count, "problem")} in the file. Fix it and check again, or store the ${plural(preview.n_examples, "valid row")} and skip the rest.`,
    };
  }
  return { tone: "bad", text: "Nothing in this file can be stored. Fix the errors below and check it again." };
}

export function PreviewSummary({
  preview,
  file,
  skillId,
  onConfirm,
  onReset,
  busy,
}: {
  preview: DatasetPreview;
  file: { name: string; size: number };
  skillId: number;
  onConfirm: (onError: OnError) => void;
  onReset: () => void;
  busy?: boolean;
}) {
  const verdict = previewVerdict(preview);
  const existing = preview.existing_version;
  return (
    <div className="stack" aria-label="Upload preview">
      <div className="row">
        <FileIcon />
        <strong className="mono">{file.name}</strong>
        <span className="muted">{formatBytes(file.size)}</span>
        <span className="spacer" />
        {preview.sha256 && (
          <span className="hash" title={`sha256 of the normalised rows: ${preview.sha256}`}>
            sha256 {shortHash(preview.sha256)}
          </span>
        )}
      </div>
      <div className="stats">
        <Stat label="Format" value={formatLabel(preview.format)} />
        <Stat label="Valid rows" value={formatCount(preview.n_examples)} />
        <Stat label="Train" value={formatCount(preview.n_train)} />
        <Stat label="Eval" value={formatCount(preview.n_eval)} />
        <Stat label="Rejected" value={formatCount(preview.n_rejected)} tone={preview.n_rejected > 0 ? "bad" : undefined} />
        <Stat label="Flagged" value={formatCount(preview.flag_count)} tone={preview.flag_count > 0 ? "warn" : undefined} />
      </div>
      <div className={`notice ${verdict.tone}`} role="status" data-testid="preview-verdict">
        {verdict.tone === "ok" ? <CheckIcon /> : <AlertIcon />}
        <span>
          {verdict.text}{" "}
          {existing && <Link to={`/skills/${skillId}/versions/${existing.id}`}>Open version {existing.version}</Link>}
        </span>
      </div>
      {preview.errors.length > 0 && (
        <section className="stack" style={{ gap: 6 }}>
          <h3>
            Errors <span className="badge bad">{formatCount(preview.error_count)}</span>
          </h3>
          <ErrorTable errors={preview.errors} total={preview.error_count} />
        </section>
      )}
      {preview.flags.length > 0 && (
        <section className="stack" style={{ gap: 6 }}>
          <h3>
            Flagged for a human to read <span className="badge warn">{formatCount(preview.flag_count)}</span>
          </h3>
          <p className="small muted">
            Demonstrations are pasted verbatim into the teacher prompt: text that addresses the model becomes what the student learns.
          </p>
          <FlagTable flags={preview.flags} total={preview.flag_count} />
        </section>
      )}
      {preview.rows.length > 0 && (
        <section className="stack" style={{ gap: 6 }}>
          <h3>
            First rows{" "}
            <span className="muted small">
              {preview.rows.length < preview.n_examples
                ? `${preview.rows.length} of ${formatCount(preview.n_examples)}, as they will be stored (normalised)`
                : "as they will be stored (normalised)"}
            </span>
          </h3>
          <div className="card flush-card">
            <ExamplesTable rows={preview.rows} caption="First rows of the file" />
          </div>
        </section>
      )}
      <div className="form-actions">
        <button type="button" className="btn" onClick={onReset} disabled={busy}>
          Choose another file
        </button>
        {existing ? null : preview.accepted_as_is ? (
          <button type="button" className="btn primary" onClick={() => onConfirm("reject")} disabled={busy}>
            Upload {plural(preview.n_examples, "row")}
          </button>
        ) : preview.accepted_with_skip ? (
          <button type="button" className="btn primary" onClick={() => onConfirm("skip")} disabled={busy}>
            Upload {plural(preview.n_examples, "valid row")}, skip {formatCount(preview.n_rejected)}
          </button>
        ) : null}
      </div>
    </div>
  );
}
