import type { JobState } from "../queries/jobs";
import { Spinner } from "./states";

const TONES: Record<JobState, string> = {
  queued: "badge",
  running: "badge info",
  succeeded: "badge ok",
  failed: "badge bad",
  cancelled: "badge warn",
};

export function JobStateBadge({ state, cancelRequested }: { state: JobState; cancelRequested?: boolean }) {
  return (
    <span className={TONES[state]} data-state={state}>
      {state === "running" && <Spinner size={9} />}
      {state === "running" && cancelRequested ? "cancelling" : state}
    </span>
  );
}
