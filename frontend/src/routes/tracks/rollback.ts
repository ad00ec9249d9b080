import { pathTo } from "../../lib/treeLayout";
import type { CheckpointNode } from "../../queries/tracks";

/** What a rollback changes, in sentences the confirmation dialog shows (pure, so it is tested). */
export function describeRollback({
  checkpoints,
  headId,
  targetId,
  queuedJobs,
  label,
}: {
  checkpoints: CheckpointNode[];
  headId: number | null;
  targetId: number;
  queuedJobs: number;
  label: (checkpoint: CheckpointNode) => string;
}): string[] {
  const byId = new Map(checkpoints.map((checkpoint) => [checkpoint.id, checkpoint]));
  const target = byId.get(targetId);
  const head = headId === null ? undefined : byId.get(headId);
  if (!target) return [];
  const name = (checkpoint: CheckpointNode) => `#${checkpoint.id} (${label(checkpoint)})`;
  const lines = [`The head moves from ${head ? name(head) : "nothing"} to ${name(target)}.`];
  const headPath = pathTo(checkpoints, headId);
  const at = headPath.indexOf(targetId);
  if (at >= 0) {
    const after = headPath.slice(at + 1);
    if (after.length > 0)
      lines.push(
        `${after.map((id) => `#${id}`).join(", ")} ${after.length === 1 ? "is" : "are"} kept: ${after.length === 1 ? "it stays" : "they stay"} visible as a branch and you can roll forward again.`,
      );
  } else {
    lines.push("The head switches to another branch; the current line is kept as it is.");
  }
  lines.push(
    queuedJobs > 0
      ? `${queuedJobs} queued ${queuedJobs === 1 ? "job" : "jobs"} will start from ${name(target)}.`
      : `The next skill you queue will start from ${name(target)}.`,
  );
  lines.push("Nothing is deleted.");
  return lines;
}
