/**
 * Drop a file → the server checks it (nothing stored) → the user reads the preview → confirms →
 * the file is stored as a new immutable version. Every step that waits shows progress.
 */
import { useRef, useState } from "react";
import { Link } from "react-router";
import { ApiError } from "../../../client/api";
import { Dropzone } from "../../../components/Dropzone";
import { CheckIcon } from "../../../components/icons";
import { ProgressBar } from "../../../components/Progress";
import { ErrorState } from "../../../components/states";
import { plural } from "../../../lib/format";
import {
  previewDataset,
  uploadDataset,
  useInvalidateVersions,
  type DatasetPreview,
  type DatasetVersionDetail,
  type OnError,
} from "../../../queries/datasets";
import { PreviewSummary } from "./PreviewSummary";
import { ErrorTable } from "./RowTables";

type Step =
  | { kind: "idle" }
  | { kind: "checking"; file: File; progress: number | null }
  | { kind: "previewed"; file: File; preview: DatasetPreview }
  | { kind: "storing"; file: File; preview: DatasetPreview; progress: number | null }
  | { kind: "stored"; file: File; version: DatasetVersionDetail; created: boolean }
  | { kind: "failed"; file: File; error: unknown; preview?: DatasetPreview };

const FORMATS_HINT = "JSONL, JSON array or CSV, detected from the content";

export function UploadPanel({ skillId }: { skillId: number }) {
  const [step, setStep] = useState<Step>({ kind: "idle" });
  const abortRef = useRef<AbortController | null>(null);
  const invalidateVersions = useInvalidateVersions(skillId);

  async function check(file: File) {
    abortRef.current?.abort();
    const controller = new AbortController();
    abortRef.current = controller;
    setStep({ kind: "checking", file, progress: 0 });
    try {
      const preview = await previewDataset(skillId, file, {
        signal: controller.signal,
        // Once the bytes are sent the server parses: switch to an indeterminate bar.
        onProgress: (fraction) => setStep({ kind: "checking", file, progress: fraction >= 1 ? null : fraction }),
      });
      if (!controller.signal.aborted) setStep({ kind: "previewed", file, preview });
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "aborted")) setStep({ kind: "failed", file, error });
      else setStep({ kind: "idle" });
    }
  }

  async function store(file: File, preview: DatasetPreview, onError: OnError) {
    const controller = new AbortController();
    abortRef.current = controller;
    setStep({ kind: "storing", file, preview, progress: 0 });
    try {
      const { version, created } = await uploadDataset(skillId, file, onError, {
        signal: controller.signal,
        onProgress: (fraction) => setStep({ kind: "storing", file, preview, progress: fraction >= 1 ? null : fraction }),
      });
      setStep({ kind: "stored", file, version, created });
      await invalidateVersions();
    } catch (error) {
      setStep({ kind: "failed", file, error, preview });
    }
  }

  function reset() {
    abortRef.current?.abort();
    setStep({ kind: "idle" });
  }

  switch (step.kind) {
    case "idle":
      return <Dropzone onFile={(file) => void check(file)} hint={FORMATS_HINT} />;
    case "checking":
      return (
        <div className="stack">
          <ProgressBar
            fraction={step.progress}
            label={step.progress === null ? `Checking ${step.file.name}…` : `Sending ${step.file.name} for a check…`}
          />
          <div className="form-actions">
            <button type="button" className="btn" onClick={reset}>
              Cancel
            </button>
          </div>
        </div>
      );
    case "previewed":
    case "storing":
      return (
        <div className="stack">
          <PreviewSummary
            preview={step.preview}
            file={step.file}
            skillId={skillId}
            busy={step.kind === "storing"}
            onReset={reset}
            onConfirm={(onError) => void store(step.file, step.preview, onError)}
          />
          {step.kind === "storing" && (
            <ProgressBar fraction={step.progress} label={step.progress === null ? "Storing the new version…" : "Uploading…"} />
          )}
        </div>
      );
    case "stored":
      return (
        <div className="stack">
          <div className="notice ok" role="status" data-testid="upload-result">
            <CheckIcon />
            <span>
              {step.created
                ? `Stored as version ${step.version.version}: ${plural(step.version.n_examples, "row")} (${step.version.n_train} train, ${step.version.n_eval} eval)${step.version.n_rejected ? `, ${plural(step.version.n_rejected, "row")} skipped` : ""}.`
                : `Identical to version ${step.version.version}; nothing new was stored.`}{" "}
              <Link to={`/skills/${skillId}/versions/${step.version.id}`}>Open version {step.version.version}</Link>
            </span>
          </div>
          <Dropzone onFile={(file) => void check(file)} label="Drop another file to add a version" hint={FORMATS_HINT} />
        </div>
      );
    case "failed":
      return (
        <div className="stack">
          <ErrorState error={step.error} title={`${step.file.name} was not stored`} />
          {step.error instanceof ApiError && step.error.errors.length > 0 && (
            <ErrorTable errors={step.error.errors} total={step.error.errorCount} />
          )}
          <Dropzone onFile={(file) => void check(file)} label="Drop a corrected file" hint={FORMATS_HINT} />
        </div>
      );
  }
}
